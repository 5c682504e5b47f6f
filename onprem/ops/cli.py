"""Click commands of the day-one operations (the ones `onprem` loads lazily by name).

Thin: build the clients from the config and the state directory (`OpsContext`), call one workflow,
print its result (as JSON with --json). Secrets (PINs, passwords) are read from files or environment
variables, never from arguments. Certificates and webhooks are in `cli_tls`, backups in `cli_backup`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from onprem.ops.cli_backup import backup, restore
from onprem.ops.cli_common import (
    config_option,
    emit,
    json_option,
    make_context,
    password_env_option,
    password_file_option,
    pin_file_option,
    set_option,
)
from onprem.ops.cli_tls import certs, webhooks
from onprem.ops.context import OpsContext

__all__ = [
    "backup",
    "certs",
    "register",
    "restore",
    "send",
    "two_step",
    "users",
    "verify",
    "webhooks",
]


def _pin(pin_file: str | None) -> str | None:
    from onprem.ops.registration import read_pin

    return read_pin(Path(pin_file)) if pin_file else None


def _pending(ctx: OpsContext) -> Any:
    from onprem.ops.registration import PendingStore

    return PendingStore(ctx.state.root / "registration.json")


@click.command()
@config_option
@set_option
@click.argument("cc")
@click.argument("number")
@click.option("--method", type=click.Choice(["sms", "voice"]), default="sms", show_default=True)
@click.option(
    "--cert", "cert_file", required=True, type=click.Path(dir_okay=False), help="Verified-name cert."
)
@pin_file_option
@json_option
def register(
    config_path: str | None,
    overrides: tuple[str, ...],
    cc: str,
    number: str,
    method: str,
    cert_file: str,
    pin_file: str | None,
    as_json: bool,
) -> None:
    """Register the business number CC NUMBER; finish with `onprem verify CODE`."""
    from onprem.ops import registration

    ctx = make_context(config_path, overrides)
    cert = registration.read_cert(Path(cert_file))
    pin = _pin(pin_file)
    result = registration.register(
        ctx.api(),
        _pending(ctx),
        cc=cc.lstrip("+"),
        phone_number=number,
        method="voice" if method == "voice" else "sms",
        cert=cert,
        pin=pin,
    )
    human = f"{result.number}: {result.status}"
    if result.status == "code sent":
        human += f" by {method}" + (f" (verified name {result.vname})" if result.vname else "")
        human += "; finish with `onprem verify CODE`"
    emit(as_json, result.as_dict(), human)


@click.command()
@config_option
@set_option
@click.argument("code")
@json_option
def verify(config_path: str | None, overrides: tuple[str, ...], code: str, as_json: bool) -> None:
    """Finish the registration with the CODE received by SMS or voice."""
    from onprem.ops import registration

    ctx = make_context(config_path, overrides)
    result = registration.verify(ctx.api(), _pending(ctx), code)
    emit(as_json, result.as_dict(), f"{result.number or 'the number'}: {result.status}")


@click.group("two-step")
def two_step() -> None:
    """Two-step verification of the registered number."""


@two_step.command("enable")
@config_option
@set_option
@pin_file_option
@json_option
def two_step_enable(
    config_path: str | None, overrides: tuple[str, ...], pin_file: str | None, as_json: bool
) -> None:
    """Turn two-step verification on with the PIN in --pin-file."""
    from onprem.ops.account import two_step as run

    state = run(make_context(config_path, overrides).api(), True, _pin(pin_file))
    emit(as_json, {"two_step": state}, f"two-step verification {state}")


@two_step.command("disable")
@config_option
@set_option
@json_option
def two_step_disable(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Turn two-step verification off."""
    from onprem.ops.account import two_step as run

    state = run(make_context(config_path, overrides).api(), False, None)
    emit(as_json, {"two_step": state}, f"two-step verification {state}")


@click.command()
@config_option
@set_option
@click.option("--to", required=True, help="Recipient phone number with country code.")
@click.option("--text", required=True, help="Message body.")
@json_option
def send(config_path: str | None, overrides: tuple[str, ...], to: str, text: str, as_json: bool) -> None:
    """Send a text message (a smoke test of the registered client)."""
    from onprem.ops.account import send_text

    sent = send_text(make_context(config_path, overrides).api(), to, text)
    emit(as_json, sent, f"sent to {sent['wa_id']}: message id {sent['id']}")


@click.group()
def users() -> None:
    """API users of the client (admin and the users onprem created)."""


def _registry(ctx: OpsContext) -> Any:
    from onprem.ops.account import UserRegistry

    return UserRegistry(ctx.state.root / "users.json")


@users.command("list")
@config_option
@set_option
@json_option
def users_list(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """admin and the users onprem created, as the client reports them (the API cannot list users)."""
    from onprem.ops.account import list_users

    ctx = make_context(config_path, overrides)
    rows = list_users(ctx.api(), _registry(ctx))
    lines = [
        f"{r['username']:<32} {r['role'] or '-':<8} {'present' if r['present'] else 'missing'}" for r in rows
    ]
    emit(as_json, {"users": rows}, "\n".join(lines))


@users.command("create")
@config_option
@set_option
@click.argument("username")
@password_file_option
@password_env_option
@json_option
def users_create(
    config_path: str | None,
    overrides: tuple[str, ...],
    username: str,
    password_file: str | None,
    password_env: str | None,
    as_json: bool,
) -> None:
    """Create USERNAME, or set its password if it exists (from --password-file or --password-env)."""
    from onprem.ops.account import check_username, create_user
    from onprem.secrets import check_admin_password

    ctx = make_context(config_path, overrides)
    check_username(username)
    password = ctx.read_secret(password_file, password_env, "password")
    _check(check_admin_password(password), "the password")
    outcome = create_user(ctx.api(), _registry(ctx), username, password)
    emit(as_json, {"username": username, "status": outcome}, f"user {username}: {outcome}")


def _check(problem: str | None, what: str) -> None:
    from onprem.errors import ConfigError

    if problem:
        raise ConfigError(f"{what} {problem}")


@users.command("delete")
@config_option
@set_option
@click.argument("username")
@json_option
def users_delete(config_path: str | None, overrides: tuple[str, ...], username: str, as_json: bool) -> None:
    """Delete USERNAME (admin cannot be deleted)."""
    from onprem.ops.account import delete_user

    ctx = make_context(config_path, overrides)
    outcome = delete_user(ctx.api(), _registry(ctx), username)
    emit(as_json, {"username": username, "status": outcome}, f"user {username}: {outcome}")
