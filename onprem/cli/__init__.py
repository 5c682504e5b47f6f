"""The command line: click only. Each command parses its options, builds the `Deployment`, calls one
workflow and prints the result as a table or as one JSON document.

Modules here import click and the standard library at the top and everything else inside the commands,
so `onprem --help` stays fast; help text is each command's docstring, the one source. `main` turns an
`OnpremError` into its exit code and is the only place that calls `sys.exit`.
"""

from __future__ import annotations

import sys

import click

from onprem import __version__
from onprem.cli import (
    account,
    backup,
    changes,
    emulator,
    exporter,
    front,
    lifecycle,
    locking,
    migrate,
    offline,
    profile,
    relay,
    residency,
    secrets,
    tls,
)
from onprem.errors import OnpremError

ABORTED = 130
"""Exit code when the operator declines a confirmation or interrupts a command (as a shell does)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onprem")
def cli() -> None:
    """Deploy and operate the self-hosted WhatsApp Business API client on Docker.

    One declarative file (onprem.yaml) describes a deployment; `onprem deploy` renders it into
    compose files, launches it, waits for the client's own API to answer and bootstraps it.
    """


for module in (
    lifecycle,
    changes,
    offline,
    account,
    profile,
    tls,
    backup,
    secrets,
    locking,
    relay,
    exporter,
    front,
    emulator,
    residency,
    migrate,
):
    for command in module.COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map onprem errors to their exit codes. The only place that calls sys.exit."""
    try:
        # Outside standalone mode click returns an Exit's code (e.g. `plan --detailed-exitcode`'s 2).
        code = cli.main(args=argv, prog_name="onprem", standalone_mode=False)
    except OnpremError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted by the operator", err=True)
        sys.exit(ABORTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
