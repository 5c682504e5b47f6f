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
    open_deployment,
    password_env_option,
    password_file_option,
    yes_option,
)

if TYPE_CHECKING:
    from onprem.deployment import Deployment

BACKUP_PASSWORD = "BACKUP_PASSWORD"  # noqa: S105 - the name of a secret file, not a value


def _password(deployment: Deployment, file: str | None, env: str | None) -> str:
    from onprem.secrets import from_flags

    given = from_flags(file, env, os.environ, what="backup password", flag="password")
    return given if given is not None else deployment.secrets.read_or_generate(BACKUP_PASSWORD)


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

    The password comes from --password-file, --password-env, else the state directory's
    secrets/BACKUP_PASSWORD (generated on first use): keep a copy of it off this host."""
    from onprem.workflows.backup import backup_to

    deployment = open_deployment(config_path, overrides)
    deployment.api()  # first: a deployment that is not there stores no new password either
    password = _password(deployment, password_file, password_env)
    done = backup_to(deployment, password=password, output=output)
    if password_file is None and password_env is None:
        done["password"] = str(deployment.secrets.path(BACKUP_PASSWORD))
    human = f"backup written to {done['file']} ({done['bytes']} bytes)"
    if "password" in done:
        human += f"; its password is in {done['password']} (keep a copy off this host)"
    emit(as_json, done, human)


@click.command()
@deployment_options
@click.argument("archive_file", type=click.Path(dir_okay=False, path_type=Path))
@password_file_option
@password_env_option
@yes_option
@json_option
def restore(
    config_path: str | None,
    overrides: tuple[str, ...],
    archive_file: Path,
    password_file: str | None,
    password_env: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Verify ARCHIVE_FILE completely, then restore the database, media and settings from it (asks
    before overwriting the deployment's database and media, unless --yes)."""
    from onprem.workflows.backup import restore_from

    deployment = open_deployment(config_path, overrides)
    password = _password(deployment, password_file, password_env)
    ask = (lambda _question: None) if yes else confirm
    done = restore_from(deployment, archive_file, password=password, confirm=ask)
    emit(as_json, done, "\n".join(f"{k}: {v}" for k, v in done.items()))


COMMANDS = [backup, restore]
