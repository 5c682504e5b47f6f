"""`onprem relay serve | dlq list | replay`: the webhook relay sidecar and its dead letters.

`serve` runs inside the project image and reads the relay's own settings file (`--settings`, rendered
from the `relay:` section of onprem.yaml). `dlq list` and `replay` work on a store: with `--settings`
on the store those settings name (inside the relay container, beside the running relay); without it,
on the deployment's relay, through the engine (this machine's or over SSH), like every other command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from onprem.cli.options import (
    deployment_options,
    emit,
    json_option,
    locked,
    open_deployment,
    operation_options,
)

if TYPE_CHECKING:
    from onprem.relay.settings import RelaySettings
    from onprem.relay.store import DeadLetterAdmin

T = TypeVar("T")

settings_option = click.option(
    "--settings",
    "settings_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The relay's own settings file (relay.yaml, rendered from onprem.yaml); inside its container.",
)


def _settings(settings_file: Path | None) -> RelaySettings:
    from onprem.relay.settings import RelaySettings, load_settings

    return load_settings(settings_file) if settings_file is not None else RelaySettings()


@click.group()
def relay() -> None:
    """The webhook relay sidecar: verify, store durably, acknowledge, forward; its dead letters."""


@relay.command()
@settings_option
@click.option("--listen", default=None, metavar="HOST:PORT", help="Override the settings' listen address.")
@click.option(
    "--public-listen",
    default=None,
    metavar="HOST:PORT",
    help="Where the relay.public HTTPS listener binds (default: its port on its bind_address or loopback).",
)
@click.option(
    "--http01-listen",
    default=None,
    metavar="HOST:PORT",
    help="Where the relay.public HTTP listener (ACME challenges, redirect) binds (default: http01_port).",
)
def serve(
    settings_file: Path | None, listen: str | None, public_listen: str | None, http01_listen: str | None
) -> None:
    """Serve the ingress, /healthz and /metrics, and deliver to the configured endpoints; with
    relay.public, also the public HTTPS face of the Cloud ingress."""
    import logging

    from onprem.errors import ConfigError
    from onprem.relay.service import run
    from onprem.sidecar import split_listen

    settings = _settings(settings_file)
    try:
        host, port = split_listen(listen or settings.listen)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from None
    extra: dict[str, tuple[str, int] | None] = {}
    for option, value in (("public", public_listen), ("http01", http01_listen)):
        try:
            extra[option] = split_listen(value) if value else None
        except ValueError as exc:
            raise ConfigError(f"--{option}-listen: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(settings, host, port, public=extra["public"], http01=extra["http01"])


def _with_admin(settings_file: Path, work: Callable[[DeadLetterAdmin], Awaitable[T]]) -> T:
    """Run `work` against the dead-letter admin of the store the settings name, beside any relay running
    on it. Raises StateError when there is no such store or it is unusable."""
    import asyncio

    from onprem.errors import StateError
    from onprem.relay.store import RelayStoreError, open_admin

    admin = open_admin(_settings(settings_file))

    async def _go() -> T:
        await admin.open()
        try:
            return await work(admin)
        finally:
            await admin.close()

    try:
        return asyncio.run(_go())
    except RelayStoreError as exc:
        raise StateError(f"relay: {exc}") from None


@relay.group()
def dlq() -> None:
    """Dead-lettered deliveries."""


@dlq.command("list")
@deployment_options
@settings_option
@click.option("--endpoint", default=None, help="Only this endpoint.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def dlq_list(
    config_path: str | None,
    overrides: tuple[str, ...],
    settings_file: Path | None,
    endpoint: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List dead-lettered deliveries, oldest first (bodies are not shown)."""
    if settings_file is not None:
        rows = _with_admin(settings_file, lambda admin: admin.list_dead(endpoint, limit))
        document: dict[str, Any] = {"dead_letters": [row.as_json() for row in rows], "count": len(rows)}
    else:
        from onprem.workflows.relay_admin import list_dead

        document = list_dead(open_deployment(config_path, overrides), endpoint=endpoint, limit=limit)
    import time

    lines = [
        f"{row['event_id']}  {row['endpoint']}  attempts={row['attempts']}  "
        f"received={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(row['received_at']))}  {row['error']}"
        for row in document["dead_letters"]
    ]
    lines.append(f"{document['count']} dead-lettered deliveries")
    emit(as_json, document, "\n".join(lines))


@relay.command()
@deployment_options
@settings_option
@click.option("--endpoint", default=None, help="Only this endpoint's dead letters (and re-enable it).")
@click.option("--id", "event_ids", multiple=True, help="Only these event ids (repeatable).")
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter.")
@operation_options
@json_option
def replay(
    config_path: str | None,
    overrides: tuple[str, ...],
    settings_file: Path | None,
    endpoint: str | None,
    event_ids: tuple[str, ...],
    replay_all: bool,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Put dead-lettered deliveries back in the queue with a fresh attempt budget (name --all,
    --endpoint or --id). A running relay picks them up at its next poll."""
    from onprem.errors import ConfigError

    if not (replay_all or endpoint or event_ids):
        raise ConfigError("relay replay: name --endpoint, --id or --all")
    if settings_file is not None:
        count = _with_admin(settings_file, lambda admin: admin.replay(endpoint, event_ids))
        document: dict[str, Any] = {"requeued": count}
    else:
        from onprem.workflows.relay_admin import replay as run

        deployment = open_deployment(config_path, overrides)
        with locked(deployment, lock_wait, reason):
            document = run(deployment, endpoint=endpoint, event_ids=event_ids, replay_all=replay_all)
    emit(as_json, document, f"requeued {document['requeued']} deliveries")


@relay.command()
@deployment_options
@settings_option
@click.argument("message_id")
@click.option(
    "--since",
    type=float,
    default=0.0,
    metavar="EPOCH",
    help="Only events received from then on (epoch seconds).",
)
@json_option
def statuses(
    config_path: str | None,
    overrides: tuple[str, ...],
    settings_file: Path | None,
    message_id: str,
    since: float,
    as_json: bool,
) -> None:
    """The status callbacks the relay received for MESSAGE_ID (sent, delivered, read, failed), oldest
    first."""
    if settings_file is not None:
        from onprem.relay.statuses import statuses_for

        bodies = _with_admin(settings_file, lambda admin: admin.bodies_mentioning(message_id, since, 100))
        document: dict[str, Any] = {"message_id": message_id, "statuses": statuses_for(message_id, bodies)}
    else:
        from onprem.workflows.relay_admin import message_statuses

        found = message_statuses(open_deployment(config_path, overrides), message_id, since=since)
        document = {"message_id": message_id, "statuses": found}
    lines = [
        f"{s['timestamp']}  {s['status']}" + "".join(f"  ({e['code']} {e['title']})" for e in s["errors"])
        for s in document["statuses"]
    ]
    emit(as_json, document, "\n".join(lines) or f"no status callback received for {message_id}")


COMMANDS = [relay]
