"""Shared pieces of the operations commands: options, building the context, printing results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from onprem.commands import config_option, set_option
from onprem.ops.context import OpsContext

__all__ = ["config_option", "set_option"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
pin_file_option = click.option(
    "--pin-file", type=click.Path(dir_okay=False), help="File holding the 6-digit two-step PIN."
)
password_file_option = click.option(
    "--password-file", type=click.Path(dir_okay=False), help="File holding the password."
)
password_env_option = click.option(
    "--password-env", metavar="VAR", help="Environment variable holding the password."
)


def make_context(config_path: str | None, overrides: tuple[str, ...]) -> OpsContext:
    """The deployment's context from --config/--set, like every other command. Raises ConfigError."""
    from onprem.config import find_config, load_settings

    cwd = Path.cwd()
    path = find_config(config_path, os.environ, cwd)
    ctx = OpsContext(load_settings(path, environ=os.environ, overrides=list(overrides), cwd=cwd))
    click.get_current_context().call_on_close(ctx.close)
    return ctx


def emit(as_json: bool, document: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(document, indent=2, sort_keys=True) if as_json else human)
