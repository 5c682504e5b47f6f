"""What every command shares: the --config/--set/--json options, building the `Deployment` for the
command, and printing a result as text or as one JSON document.

Only click and the standard library are imported here; the deployment's modules load when a command
runs, so `onprem --help` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from onprem.config import LoadedConfig
    from onprem.deployment import Deployment
    from onprem.errors import GateError
    from onprem.workflows.operation import Operation

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "-c",
    "config_path",
    metavar="FILE",
    help="onprem.yaml to read (default: $ONPREM_CONFIG, else ./onprem.yaml, else built-in defaults).",
)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting, e.g. --set network.web_port=9191.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
pin_file_option = click.option(
    "--pin-file", type=click.Path(dir_okay=False, path_type=Path), help="File holding the 6-digit PIN."
)
password_file_option = click.option(
    "--password-file", metavar="FILE", help="File holding the password (never give it as an argument)."
)
password_env_option = click.option(
    "--password-env", metavar="VAR", help="Environment variable holding the password."
)
yes_option = click.option("--yes", is_flag=True, help="Do not ask before destroying data.")
lock_wait_option = click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Wait up to SECONDS for another command's lock on the deployment (default: fail at once).",
)
reason_option = click.option(
    "--reason", default="", metavar="TEXT", help="Why you run this command (kept in the lock and audit log)."
)


def deployment_options(func: F) -> F:
    """--config and --set: the options of every command that works on a deployment."""
    return config_option(set_option(func))


def operation_options(func: F) -> F:
    """--lock-wait and --reason: the options of every command that changes a deployment."""
    return lock_wait_option(reason_option(func))


def locked(
    deployment: Deployment, lock_wait: float, reason: str, *, local_only: bool = False
) -> AbstractContextManager[Operation]:
    """The command as one operation: the deployment's lock on this machine and every host for its
    duration, and its audit line (named by the command's path, e.g. `certs issue`). Raises LockError."""
    from onprem.workflows.operation import operation

    command = click.get_current_context().command_path.split(" ", 1)[-1]
    return operation(
        deployment,
        command,
        reason=reason,
        lock_wait=lock_wait,
        local_only=local_only,
        aborted_by=(click.exceptions.Abort,),
    )


def load(config_path: str | None, overrides: tuple[str, ...]) -> LoadedConfig:
    """The config from --config/--set, $ONPREM_CONFIG, ./onprem.yaml or the defaults. Raises ConfigError."""
    from onprem.config import find_config, load_settings

    cwd = Path.cwd()
    path = find_config(config_path, os.environ, cwd)
    return load_settings(path, environ=os.environ, overrides=list(overrides), cwd=cwd)


def open_deployment(config_path: str | None, overrides: tuple[str, ...]) -> Deployment:
    """The command's `Deployment`, closed (tunnel included) when the command ends. Raises ConfigError."""
    from onprem.deployment import Deployment

    deployment = Deployment.open(load(config_path, overrides), progress=progress)
    click.get_current_context().call_on_close(deployment.close)
    return deployment


def progress(line: str) -> None:
    """Progress and warnings go to stderr, so stdout stays the result (text or JSON)."""
    click.echo(line, err=True)


def emit(as_json: bool, document: dict[str, Any], human: str) -> None:
    """Print the result: one JSON document with --json, else the human text."""
    import json

    click.echo(json.dumps(document, indent=2, sort_keys=True) if as_json else human)


def show_gate_logs(exc: GateError) -> None:
    """The failing service's last log lines, on stderr, before the error itself."""
    if exc.logs:
        click.echo(f"--- last log lines of {exc.service} ---\n{exc.logs.rstrip()}\n---", err=True)


def confirm(question: str) -> None:
    """Ask before destroying data. Raises click.Abort (exit 130) when the operator declines."""
    click.confirm(question, abort=True)
