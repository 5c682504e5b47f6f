"""The deployment's lock and audit log: `lock status`, `lock release [--force]`, `audit [-n N]`."""

from __future__ import annotations

import click

from onprem.cli.options import deployment_options, emit, json_option, open_deployment


@click.group()
def lock() -> None:
    """The deployment's lock, on this machine and on each host.

    Every command that changes a deployment holds it while it runs; `--lock-wait SECONDS` makes a
    command wait for it instead of failing (exit 8) at once."""


@lock.command("status")
@deployment_options
@json_option
def lock_status(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show the lock on this machine and on each host: free, held (by whom, since when, doing what),
    or stale (its holder no longer runs)."""
    from onprem.workflows.locks import lock_status as run

    document = run(open_deployment(config_path, overrides))
    lines = [f"{row['location']}: {row['summary']}" for row in document["locks"]]
    emit(as_json, document, "\n".join(lines))


@lock.command("release")
@deployment_options
@click.option("--force", is_flag=True, help="Release a lock whose holder may still run (says whose it was).")
@json_option
def lock_release(config_path: str | None, overrides: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Release the deployment's lock where it is stale or your own; with --force, whoever holds it."""
    from onprem.workflows.locks import release_locks

    document = release_locks(open_deployment(config_path, overrides), force=force)
    rows = document["released"]
    lines = [
        f"{row['location']}: {'released' if row['released'] else 'changed meanwhile, kept'}" for row in rows
    ]
    emit(as_json, document, "\n".join(lines) or "no lock is held")


@click.command()
@deployment_options
@click.option("-n", "limit", type=click.IntRange(min=1), default=None, help="Only the last N entries.")
@json_option
def audit(config_path: str | None, overrides: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """Show the audit log: every command that changed the deployment, from this machine's log and each
    host's (each command once), newest last."""
    from onprem.audit import table
    from onprem.workflows.locks import read_audit

    document = read_audit(open_deployment(config_path, overrides), limit=limit)
    if as_json:
        emit(True, {"entries": document["entries"]}, "")
        return
    click.echo(table(document["entries"]))
    if document["unreadable_lines"]:
        click.echo(f"({document['unreadable_lines']} unreadable lines skipped)", err=True)


COMMANDS = [lock, audit]
