"""The registered number and its users: `register`, `verify`, `two-step`, `send`, `users`.

PINs and passwords are read from files or environment variables, never from arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from onprem.cli.options import (
    deployment_options,
    emit,
    json_option,
    locked,
    open_deployment,
    operation_options,
    password_env_option,
    password_file_option,
    pin_file_option,
)


@click.command()
@deployment_options
@click.argument("cc")
@click.argument("number")
@click.option("--method", type=click.Choice(["sms", "voice"]), default="sms", show_default=True)
@click.option(
    "--cert",
    "cert_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The verified-name certificate from the WhatsApp Manager.",
)
@pin_file_option
@operation_options
@json_option
def register(
    config_path: str | None,
    overrides: tuple[str, ...],
    cc: str,
    number: str,
    method: str,
    cert_file: Path,
    pin_file: Path | None,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Register the business number CC NUMBER; finish with `onprem verify CODE`."""
    from onprem.workflows.registration import register_number

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        result = register_number(
            deployment,
            cc=cc,
            phone_number=number,
            method="voice" if method == "voice" else "sms",
            cert_file=cert_file,
            pin_file=pin_file,
        )
    human = f"{result.number}: {result.status}"
    if result.status == "code sent":
        human += f" by {method}" + (f" (verified name {result.vname})" if result.vname else "")
        human += "; finish with `onprem verify CODE`"
    emit(as_json, result.as_dict(), human)


@click.command()
@deployment_options
@click.argument("code")
@operation_options
@json_option
def verify(
    config_path: str | None,
    overrides: tuple[str, ...],
    code: str,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Finish the registration with the CODE received by SMS or voice."""
    from onprem.workflows.registration import verify_code

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        result = verify_code(deployment, code)
    emit(as_json, result.as_dict(), f"{result.number or 'the number'}: {result.status}")


@click.group("two-step")
def two_step() -> None:
    """Two-step verification of the registered number."""


@two_step.command("enable")
@deployment_options
@pin_file_option
@operation_options
@json_option
def two_step_enable(
    config_path: str | None,
    overrides: tuple[str, ...],
    pin_file: Path | None,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Turn two-step verification on with the PIN in --pin-file."""
    from onprem.workflows.account import set_two_step

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        state = set_two_step(deployment, enable=True, pin_file=pin_file)
    emit(as_json, {"two_step": state}, f"two-step verification {state}")


@two_step.command("disable")
@deployment_options
@operation_options
@json_option
def two_step_disable(
    config_path: str | None, overrides: tuple[str, ...], lock_wait: float, reason: str, as_json: bool
) -> None:
    """Turn two-step verification off."""
    from onprem.workflows.account import set_two_step

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        state = set_two_step(deployment, enable=False, pin_file=None)
    emit(as_json, {"two_step": state}, f"two-step verification {state}")


@click.command()
@deployment_options
@click.option("--to", required=True, help="Recipient phone number with country code.")
@click.option("--text", default=None, help="Message body (free-form: needs the user's 24-hour window).")
@click.option(
    "--template", default=None, metavar="NAME", help="Send this approved template instead of --text."
)
@click.option("--language", default="en_US", show_default=True, help="The template's language code.")
@click.option(
    "--param", "params", multiple=True, metavar="TEXT", help="A template body parameter ({{1}}, {{2}}...)."
)
@click.option(
    "--wait",
    type=click.FloatRange(0, 60),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to follow the message's status callbacks (0: do not follow).",
)
@json_option
def send(
    config_path: str | None,
    overrides: tuple[str, ...],
    to: str,
    text: str | None,
    template: str | None,
    language: str,
    params: tuple[str, ...],
    wait: float,
    as_json: bool,
) -> None:
    """Send a text or template message and say what became of it: sent, delivered, read or failed
    (exit code 5 on failed, with the reason)."""
    from onprem.workflows.send import failure_error, send_and_follow

    deployment = open_deployment(config_path, overrides)
    sent, outcome = send_and_follow(
        deployment, to, text=text, template=template, language=language, params=params, wait=wait
    )
    human = f"{outcome.status}: message {sent['id']} to {sent['wa_id']}"
    if outcome.status == "failed":
        human += f" ({outcome.code} {outcome.reason})" if outcome.code is not None else f" ({outcome.reason})"
    if outcome.hint:
        human += f"\n{outcome.hint}"
    emit(as_json, {**sent, **outcome.as_dict()}, human)
    if outcome.status == "failed":
        raise failure_error(sent, outcome)


@click.group()
def users() -> None:
    """API users of the client (admin and the users onprem created)."""


@users.command("list")
@deployment_options
@json_option
def users_list(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """List admin and the users onprem created, as the client reports them (the API cannot list users)."""
    from onprem.workflows.account import list_users, registry_for

    deployment = open_deployment(config_path, overrides)
    rows = list_users(deployment.api(), registry_for(deployment))
    lines = [f"{'USERNAME':<32} {'ROLE':<8} ON THE CLIENT"]
    lines += [
        f"{r['username']:<32} {r['role'] or '-':<8} {'present' if r['present'] else 'missing'}" for r in rows
    ]
    emit(as_json, {"users": rows}, "\n".join(lines))


@users.command("create")
@deployment_options
@click.argument("username")
@password_file_option
@password_env_option
@operation_options
@json_option
def users_create(
    config_path: str | None,
    overrides: tuple[str, ...],
    username: str,
    password_file: str | None,
    password_env: str | None,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Create USERNAME, or set its password if it exists (from --password-file or --password-env)."""
    from onprem.errors import ConfigError
    from onprem.secrets import check_admin_password, from_flags
    from onprem.workflows.account import check_username, create_user, registry_for

    check_username(username)
    what = "password of the new user"
    password = from_flags(password_file, password_env, os.environ, what=what, flag="password")
    if password is None:
        raise ConfigError(f"give the {what} with --password-file FILE or --password-env VAR")
    problem = check_admin_password(password)
    if problem:
        raise ConfigError(f"the {what} {problem}")
    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        outcome = create_user(deployment.api(), registry_for(deployment), username, password)
    emit(as_json, {"username": username, "status": outcome}, f"user {username}: {outcome}")


@users.command("delete")
@deployment_options
@click.argument("username")
@operation_options
@json_option
def users_delete(
    config_path: str | None,
    overrides: tuple[str, ...],
    username: str,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Delete USERNAME (admin cannot be deleted)."""
    from onprem.workflows.account import delete_user, registry_for

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        outcome = delete_user(deployment.api(), registry_for(deployment), username)
    emit(as_json, {"username": username, "status": outcome}, f"user {username}: {outcome}")


@click.group()
def shards() -> None:
    """The account's shard count (multiconnect)."""


@shards.command("set")
@deployment_options
@click.argument("count", type=int)
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The verified-name certificate (default: bootstrap.registration.cert_file).",
)
@pin_file_option
@operation_options
@json_option
def shards_set(
    config_path: str | None,
    overrides: tuple[str, ...],
    count: int,
    cert_file: Path | None,
    pin_file: Path | None,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Set the account's shard count to COUNT (1, 2, 4, ... 32; the deployment runs COUNT+1 Coreapps)."""
    from onprem.workflows.shards import set_shards

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        done = set_shards(deployment, count, cert_file=cert_file, pin_file=pin_file)
    emit(as_json, done, f"shards: {done['shards']} ({done['status']}, was {done['was']})")


COMMANDS = [register, verify, two_step, send, users, shards]
