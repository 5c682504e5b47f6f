"""`onprem backup` and `onprem restore`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from onprem.ops.cli_common import (
    config_option,
    emit,
    json_option,
    make_context,
    password_env_option,
    password_file_option,
    set_option,
)
from onprem.ops.context import OpsContext


def _password(ctx: OpsContext, file: str | None, env: str | None) -> str:
    # The default names a secret file of the state directory, not a value.
    return ctx.read_secret(file, env, "backup password", default_secret="BACKUP_PASSWORD")  # noqa: S106


@click.command()
@config_option
@set_option
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Archive file (default: in <state>/backups/)."
)
@password_file_option
@password_env_option
@json_option
def backup(
    config_path: str | None,
    overrides: tuple[str, ...],
    output: str | None,
    password_file: str | None,
    password_env: str | None,
    as_json: bool,
) -> None:
    """Back up settings (through the API), the database and the media volume into one encrypted archive.

    The password comes from --password-file, --password-env, else the state directory's BACKUP_PASSWORD
    secret (generated on first use)."""
    from onprem.ops.archive import checksum_line
    from onprem.ops.backup import backup as run

    ctx = make_context(config_path, overrides)
    api = ctx.api()  # first: a deployment that is not there stores no new password either
    password = _password(ctx, password_file, password_env)
    now = ctx.now()
    data, manifest = run(api, ctx.stack(), password=password, deployment=ctx.project, now=now)
    target = (
        Path(output)
        if output
        else ctx.state.root / "backups" / f"{ctx.project}-{now:%Y%m%dT%H%M%SZ}.onprem-backup"
    )
    _write_private(target, data)
    _write_private(target.with_name(target.name + ".sha256"), checksum_line(data, target.name).encode())
    emit(
        as_json,
        {**manifest, "file": str(target), "bytes": len(data)},
        f"backup written to {target} ({len(data)} bytes)",
    )


def _write_private(path: Path, data: bytes) -> None:
    from onprem.errors import StateError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


@click.command()
@config_option
@set_option
@click.argument("archive_file", type=click.Path(dir_okay=False))
@password_file_option
@password_env_option
@json_option
def restore(
    config_path: str | None,
    overrides: tuple[str, ...],
    archive_file: str,
    password_file: str | None,
    password_env: str | None,
    as_json: bool,
) -> None:
    """Verify ARCHIVE_FILE completely, then restore the database, media and settings from it."""
    from onprem.errors import ConfigError
    from onprem.ops.backup import restore as run
    from onprem.ops.runtime import wait_for_api, wait_ready

    ctx = make_context(config_path, overrides)
    api = ctx.api()
    password = _password(ctx, password_file, password_env)
    try:
        data = Path(archive_file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{archive_file}: cannot read the backup ({exc.strerror})") from None
    stack = ctx.stack()

    def wait_healthy() -> None:
        wait_ready(stack.engine, stack.project, stack.client_services)
        wait_for_api(api)

    done = run(api, stack, data=data, password=password, origin=archive_file, wait_healthy=wait_healthy)
    emit(as_json, done, "\n".join(f"{k}: {v}" for k, v in done.items()))
