"""Command-line entry point: thin wiring of click commands to workflows.

Heavy modules (pydantic, docker, aiohttp) are imported inside commands so that `onprem --help` stays
fast. `sys.exit` is called here and nowhere else.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from onprem import __version__
from onprem.errors import OnpremError

# Subcommand groups owned by their packages, loaded on first use: name -> "module:attribute".
LAZY_GROUPS = {
    "emulator": ("onprem.emulator.cli:emulator", "Run the emulated client (web or core role)."),
    "relay": ("onprem.relay.cli:relay", "The webhook relay sidecar."),
    "exporter": ("onprem.exporter.cli:exporter", "The Prometheus exporter sidecar."),
}
# Top-level commands of the deployment lifecycle, defined in onprem.commands.
LAZY_COMMANDS = {
    "render": "Validate the config and write the bundle, without touching Docker.",
    "deploy": "Validate, render, launch and bootstrap the deployment.",
    "status": "Show the state of every service and the client's health.",
    "down": "Stop and remove the deployment's containers (and volumes with --volumes).",
    "logs": "Show a service's logs.",
    "config": "Check the config file and print the effective settings (secrets redacted).",
}

# Day-one operations (issue 3), defined in onprem.ops.cli: name -> (attribute, help).
OPS_COMMANDS = {
    "register": ("register", "Register the business number (finish with `onprem verify CODE`)."),
    "verify": ("verify", "Finish the registration with the code received by SMS or voice."),
    "two-step": ("two_step", "Enable or disable two-step verification."),
    "certs": ("certs", "Issue, check and upload TLS certificates; show their expiry."),
    "webhooks": ("webhooks", "Point the client's callbacks at the relay."),
    "backup": ("backup", "Back up settings, database and media into one encrypted archive."),
    "restore": ("restore", "Verify a backup archive, then restore it."),
    "send": ("send", "Send a text message (smoke test)."),
    "users": ("users", "List, create and delete API users."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_GROUPS, *LAZY_COMMANDS, *OPS_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_GROUPS:
            module, _, attr = LAZY_GROUPS[cmd_name][0].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        if cmd_name in LAZY_COMMANDS:
            cmd: click.Command = getattr(importlib.import_module("onprem.commands"), cmd_name)
            return cmd
        if cmd_name in OPS_COMMANDS:
            op: click.Command = getattr(importlib.import_module("onprem.ops.cli"), OPS_COMMANDS[cmd_name][0])
            return op
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the tables above, so `--help` imports nothing heavy.
        rows = [(name, LAZY_COMMANDS[name]) for name in LAZY_COMMANDS]
        rows += [(name, help_) for name, (_, help_) in OPS_COMMANDS.items()]
        rows += [(name, help_) for name, (_, help_) in LAZY_GROUPS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onprem")
def cli() -> None:
    """Deploy and operate the self-hosted WhatsApp Business API client on Docker.

    One declarative file (onprem.yaml) describes a deployment; `onprem deploy` renders it into
    compose files, launches it, waits for the client's own API to answer and bootstraps it.
    """


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; map onprem errors to their exit codes. The only place that calls sys.exit."""
    try:
        cli.main(args=argv, prog_name="onprem", standalone_mode=False)
    except OnpremError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
