"""`migrate cloud`: move the On-Prem number to the Cloud API (checks only with --dry-run)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import click

from onprem.cli.options import (
    confirm,
    deployment_options,
    emit,
    json_option,
    locked,
    open_deployment,
    operation_options,
    password_env_option,
    password_file_option,
    pin_file_option,
    yes_option,
)


@click.group()
def migrate() -> None:
    """Move the number to another platform."""


def _resume(
    config_path: str | None,
    overrides: tuple[str, ...],
    pin_file: Path | None,
    region: str | None,
    webhook_url: str | None,
    password_file: str | None,
    password_env: str | None,
) -> str:
    """The exact command that resumes (the same flags, never a secret value: files and names only)."""
    words = ["onprem", "migrate", "cloud"]
    if config_path:
        words += ["--config", config_path]
    for override in overrides:
        words += ["--set", override]
    for flag, value in (
        ("--pin-file", str(pin_file) if pin_file is not None else None),
        ("--region", region),
        ("--webhook-url", webhook_url),
        ("--password-file", password_file),
        ("--password-env", password_env),
    ):
        if value is not None:
            words += [flag, value]
    return shlex.join([*words, "--yes"])


def _human(done: dict[str, Any]) -> str:
    lines = [str(done["status"])]
    for check in done.get("checks", []):
        lines.append(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    if done.get("steps_to_do"):
        lines.append("steps to do: " + " → ".join(done["steps_to_do"]))
    if done.get("steps_done"):
        lines.append("steps done: " + ", ".join(done["steps_done"]))
    if done.get("backup_file"):
        lines.append(f"the On-Prem backup archive is kept: {done['backup_file']}")
    return "\n".join(lines)


@migrate.command()
@deployment_options
@click.option("--dry-run", is_flag=True, help="Run every check and change nothing, anywhere.")
@pin_file_option
@click.option("--region", metavar="XX", help="data_localization_region (ISO 3166 alpha-2; cloud.region).")
@click.option(
    "--webhook-url", metavar="URL", help="The relay's outside https:// address (cloud.webhook_url)."
)
@password_file_option
@password_env_option
@yes_option
@operation_options
@json_option
def cloud(
    config_path: str | None,
    overrides: tuple[str, ...],
    dry_run: bool,
    pin_file: Path | None,
    region: str | None,
    webhook_url: str | None,
    password_file: str | None,
    password_env: str | None,
    yes: bool,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Move the On-Prem number to the Cloud API: check everything, then back up, register with the backup
    (and region), check the Cloud status, subscribe the relay as the webhook endpoint, check the relay
    hears it, and stop the On-Prem client (volumes and archive kept). Resumable; says when it is done.

    The PIN comes from --pin-file (or bootstrap.registration.pin_file), the backup password from
    --password-file/--password-env or secrets.backup_password, the token from secrets.cloud_token."""
    from onprem.workflows.migrate_setup import Flags, migrate_cloud

    deployment = open_deployment(config_path, overrides)
    flags = Flags(
        dry_run=dry_run,
        pin_file=pin_file,
        region=region,
        webhook_url=webhook_url,
        password_file=password_file,
        password_env=password_env,
        resume=_resume(config_path, overrides, pin_file, region, webhook_url, password_file, password_env),
    )
    if dry_run:
        # No lock and no audit line: a dry run writes nothing, not even in the state directory.
        done = migrate_cloud(deployment, flags, os.environ)
    else:
        if not yes:
            confirm(
                f"move the number of {deployment.project} to the Cloud API and stop its On-Prem client? "
                "(the register cannot be undone from here)"
            )
        with locked(deployment, lock_wait, reason) as op:
            done = migrate_cloud(deployment, flags, os.environ)
            op.note(
                phone_number_id=str(done.get("phone_number_id", "")),
                migration=str(done["status"]),
                steps=",".join(done.get("steps_done", [])),
            )
    emit(as_json, done, _human(done))


COMMANDS = [migrate]
