"""`backup` and `restore`: one encrypted, checksummed archive of settings, database and media."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

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
    yes_option,
)

if TYPE_CHECKING:
    from onprem.deployment import Deployment


def _password(deployment: Deployment, file: str | None, env: str | None) -> tuple[str, str]:
    from onprem.workflows.secrets_info import backup_password

    return backup_password(deployment, file, env, os.environ)


@click.command()
@deployment_options
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archive file (default: in the state directory's backups/).",
)
@password_file_option
@password_env_option
@json_option
def backup(
    config_path: str | None,
    overrides: tuple[str, ...],
    output: Path | None,
    password_file: str | None,
    password_env: str | None,
    as_json: bool,
) -> None:
    """Back up settings (through the API), the database and the media volume into one encrypted archive.

    The password comes from --password-file, --password-env, else secrets.backup_password of the
    config (a file, env var or command; by default generated on first use and kept in the state
    directory's secrets/BACKUP_PASSWORD): keep a copy of it off this host. The answer says where it is."""
    from onprem.workflows.backup import backup_to

    deployment = open_deployment(config_path, overrides)
    deployment.api()  # first: a deployment that is not there stores no new password either
    password, where = _password(deployment, password_file, password_env)
    done = backup_to(deployment, password=password, output=output)
    done["password"] = where
    human = f"backup written to {done['file']} ({done['bytes']} bytes); its password is in {where}"
    if password_file is None and password_env is None:
        human += " (keep a copy off this host)"
    emit(as_json, done, human)


@click.command()
@deployment_options
@click.argument("archive_file", type=click.Path(dir_okay=False, path_type=Path))
@password_file_option
@password_env_option
@yes_option
@operation_options
@json_option
def restore(
    config_path: str | None,
    overrides: tuple[str, ...],
    archive_file: Path,
    password_file: str | None,
    password_env: str | None,
    yes: bool,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Verify ARCHIVE_FILE completely, then restore the database, media and settings from it (asks
    before overwriting the deployment's database and media, unless --yes)."""
    from onprem.workflows.backup import restore_from

    deployment = open_deployment(config_path, overrides)
    password, _where = _password(deployment, password_file, password_env)
    ask = (lambda _question: None) if yes else confirm
    with locked(deployment, lock_wait, reason):
        done = restore_from(deployment, archive_file, password=password, confirm=ask)
    emit(as_json, done, "\n".join(f"{k}: {v}" for k, v in done.items()))


COMMANDS = [backup, restore]
