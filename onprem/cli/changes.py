"""Changing a running deployment: `plan`, `releases`, `rollback`, `upgrade`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from onprem.cli.offline import bundle_option
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
    show_gate_logs,
    yes_option,
)
from onprem.errors import GateError, OnpremError

if TYPE_CHECKING:
    from onprem.workflows.plan import Plan

PLAN_CHANGES = 2
"""`plan --detailed-exitcode`: 0 no change, 2 changes, 1 error (as Terraform)."""


@click.command()
@deployment_options
@bundle_option
@json_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 2 when something would, 1 on error.",
)
def plan(
    config_path: str | None,
    overrides: tuple[str, ...],
    bundle_file: Path | None,
    as_json: bool,
    detailed_exitcode: bool,
) -> None:
    """Show what `deploy` would do and why, changing nothing anywhere."""
    from onprem.workflows.offline import open_bundle
    from onprem.workflows.plan import plan as run

    try:
        deployment = open_deployment(config_path, overrides)
        carried = open_bundle(deployment, bundle_file) if bundle_file is not None else None
        result = run(deployment, bundle=carried)
    except OnpremError as exc:
        if detailed_exitcode:
            raise OnpremError(str(exc)) from exc  # every error is 1 here, as --detailed-exitcode promises
        raise
    emit(as_json, result.as_json(), format_plan(result))
    if result.problems:
        raise OnpremError(f"deploy would refuse: {len(result.problems)} problem(s) above")
    if detailed_exitcode and result.changes:
        raise click.exceptions.Exit(PLAN_CHANGES)


def format_plan(result: Plan) -> str:
    """The plan as text: one line per change, with its reasons."""
    running = result.running_release or "none"
    lines = [f"deployment {result.deployment} on {result.host} (running release: {running})"]
    files = result.files
    for kind in ("added", "changed", "removed"):
        lines += [f"  file {kind}: {path}" for path in files[kind]]
    lines += [
        f"  secret {name}: {status} (value not shown)" for name, status in sorted(result.secrets.items())
    ]
    for service in result.services:
        reasons = f" ({'; '.join(service.reasons)})" if service.reasons else ""
        lines.append(f"  {service.action:<9} {service.service}{reasons}")
    lines += [f"  image to copy: {name}" for name in result.images["copy"]]
    lines += [f"  image to pull: {name}" for name in result.images["pull"]]
    lines += [f"  image from the bundle: {name}" for name in result.images.get("bundle", [])]
    lines += [f"  bootstrap: {step}" for step in result.bootstrap]
    lines += [f"  note: {note}" for note in result.notes]
    lines += [f"  PROBLEM: {problem}" for problem in result.problems]
    lines.append("deploy would change something" if result.changes else "nothing would change")
    return "\n".join(lines)


@click.command()
@deployment_options
@json_option
def releases(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """List the releases: which runs, which failed, who made each and when."""
    from onprem.workflows.rollback import listing

    document = listing(open_deployment(config_path, overrides))
    rows = [f"{'ID':<6} {'STATUS':<8} {'CREATED':<26} {'COMMAND':<9} {'VERSION':<9} BY"]
    for r in document["releases"]:
        rows.append(
            f"{r['id']:<6} {r['status']:<8} {r['created']:<26} {r['command']:<9} "
            f"{r['client_version']:<9} {r['by']}"
        )
    emit(as_json, document, "\n".join(rows))


@click.command()
@deployment_options
@click.argument("release", required=False)
@click.option(
    "--restore",
    "archive",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also restore this backup (the one `upgrade` took) when a database upgrade stands between.",
)
@password_file_option
@password_env_option
@yes_option
@operation_options
@json_option
def rollback(
    config_path: str | None,
    overrides: tuple[str, ...],
    release: str | None,
    archive: Path | None,
    password_file: str | None,
    password_env: str | None,
    yes: bool,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Bring back RELEASE (default: the one before the running one), gated like a deploy."""
    from onprem.workflows.rollback import rollback as run
    from onprem.workflows.secrets_info import backup_password

    deployment = open_deployment(config_path, overrides)
    password = ""
    if archive is not None:
        password, _where = backup_password(deployment, password_file, password_env, os.environ)
    with locked(deployment, lock_wait, reason) as operation:
        try:
            done = run(
                deployment,
                release,
                restore=archive,
                password=password,
                confirm=(lambda _q: None) if yes else confirm,
            )
        except GateError as exc:
            show_gate_logs(exc)
            raise
        operation.note(release=done["release"])
    emit(as_json, done, f"release {done['release']}: {done['status']}")


@click.command()
@deployment_options
@click.option("--version", "version", required=True, help="The client version to upgrade to, e.g. 2.57.2.")
@click.option(
    "--backup-output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the pre-upgrade backup goes (default: the state directory's backups/).",
)
@json_option
def upgrade(
    config_path: str | None,
    overrides: tuple[str, ...],
    version: str,
    backup_output: Path | None,
    as_json: bool,
) -> None:
    """Upgrade the client: verified backup, one-shot database upgrade, new release, gate."""
    from onprem.workflows.upgrade import upgrade as run

    try:
        done: dict[str, Any] = run(open_deployment(config_path, overrides), version, archive=backup_output)
    except GateError as exc:
        show_gate_logs(exc)
        raise
    human = (
        f"upgraded v{done['from_version']} -> v{done['to_version']} (release {done['release']}); "
        f"backup taken before: {done['backup']}; now {done['next']}"
    )
    emit(as_json, done, human)


COMMANDS = [plan, releases, rollback, upgrade]
