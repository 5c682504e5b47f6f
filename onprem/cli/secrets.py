"""`secrets list` and `secrets rotate FIELD`: where each secret comes from, and changing one for real."""

from __future__ import annotations

import click

from onprem.cli.options import (
    deployment_options,
    emit,
    json_option,
    locked,
    open_deployment,
    operation_options,
    show_gate_logs,
)
from onprem.errors import GateError


@click.group()
def secrets() -> None:
    """The deployment's secrets: their sources, and their rotation."""


@secrets.command("list")
@deployment_options
@json_option
def secrets_list(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """List every secret: field, file name, source, whether a value is stored and whether the source
    still gives it (`changed`: rotate it). Never a value; changes nothing."""
    from onprem.workflows.secrets_info import listing

    rows = listing(open_deployment(config_path, overrides))
    lines = [
        f"{r['field']:<24} {r['name']:<22} {r['status']:<10} "
        f"{'stored' if r['stored'] else 'not stored':<10} {r['source']}"
        + (f"  -> {r['fix']}" if "fix" in r else "")
        + (f"  ({r['problem']})" if "problem" in r else "")
        + ("  (a previous value is still kept)" if r["previous_kept"] else "")
        for r in rows
    ]
    emit(as_json, {"secrets": rows}, "\n".join(lines))


@secrets.command("rotate")
@deployment_options
@click.argument("field")
@click.option(
    "--already-changed",
    is_flag=True,
    help="db_password or relay_redis_password of your own database or Redis: the new value is already "
    "set there; only store it and recreate the services.",
)
@operation_options
@json_option
def secrets_rotate(
    config_path: str | None,
    overrides: tuple[str, ...],
    field: str,
    already_changed: bool,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Rotate secrets.FIELD (db_password, api_key, admin_password, relay_path_token, ..., extra.NAME,
    backup_password) to the value its source gives now, or a new generated one.

    The change is made in the running deployment first (the database's password, the client's admin
    password), then stored, then the services that read it are recreated and gated; the replaced value is
    kept (0600) until the deployment is healthy. On failure everything is put back and the error says so."""
    from onprem.workflows.rotate import rotate

    deployment = open_deployment(config_path, overrides)
    try:
        with locked(deployment, lock_wait, reason):
            done = rotate(deployment, field, already_changed=already_changed)
    except GateError as exc:
        show_gate_logs(exc)
        raise
    lines = [f"secrets.{done['field']} ({done['name']}, from {done['source']}): {done['status']}"]
    lines += [f"  {step}" for step in done["steps"]]
    lines += [f"  note: {note}" for note in done["notes"]]
    emit(as_json, done, "\n".join(lines))


COMMANDS = [secrets]
