"""`onprem relay ...`: serve the relay, list dead letters, replay them.

Heavy modules (aiohttp, sqlite, the store) are imported inside the commands. Errors are OnpremError
subclasses; onprem/cli.py turns them into exit codes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from onprem.errors import ConfigError, StateError

if TYPE_CHECKING:
    from onprem.relay.redis_store import RedisStore
    from onprem.relay.settings import RelaySettings

T = TypeVar("T")


def _settings(config: Path | None) -> RelaySettings:
    from onprem.relay.settings import RelaySettings, load_settings

    return load_settings(config) if config is not None else RelaySettings()


@click.group()
def relay() -> None:
    """The webhook relay sidecar: verify, store durably, acknowledge, forward."""


@relay.command()
@click.option(
    "--config", "config", type=click.Path(path_type=Path, dir_okay=False), help="relay.yaml to read."
)
@click.option("--listen", default=None, metavar="HOST:PORT", help="Override the settings' listen address.")
def serve(config: Path | None, listen: str | None) -> None:
    """Serve the ingress, /healthz and /metrics, and deliver to the configured endpoints."""
    from onprem.relay.service import run
    from onprem.sidecar import split_listen

    settings = _settings(config)
    try:
        host, port = split_listen(listen or settings.listen)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(settings, host, port)


def _connect(config: Path | None) -> sqlite3.Connection:
    from onprem.relay import sqlite_ops

    data_dir = Path(_settings(config).store.data_dir)
    if not (data_dir / sqlite_ops.DB_NAME).exists():
        raise StateError(f"relay: no store at {data_dir / sqlite_ops.DB_NAME}")
    try:
        return sqlite_ops.connect(data_dir)
    except (sqlite3.Error, OSError) as exc:
        raise StateError(f"relay: cannot open the store in {data_dir} ({exc})") from None


def _redis_call(settings: RelaySettings, work: Callable[[RedisStore], Awaitable[T]]) -> T:
    """Run `work` against the Redis store the settings name. Raises StateError when Redis is unusable."""
    from onprem.relay.redis_store import RedisStore
    from onprem.relay.store import StoreError

    async def _go() -> T:
        store = RedisStore(
            settings.store.redis, [e.name for e in settings.delivery.endpoints], clock=time.time
        )
        try:
            await store.open()
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(_go())
    except StoreError as exc:
        raise StateError(f"relay: {exc}") from None


@relay.group()
def dlq() -> None:
    """Dead-lettered deliveries."""


@dlq.command("list")
@click.option(
    "--config", "config", type=click.Path(path_type=Path, dir_okay=False), help="relay.yaml to read."
)
@click.option("--endpoint", default=None, help="Only this endpoint.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(config: Path | None, endpoint: str | None, limit: int, as_json: bool) -> None:
    """List dead-lettered deliveries, oldest first (bodies are not shown)."""
    from onprem.relay import sqlite_ops

    settings = _settings(config)
    if settings.store.backend == "redis":
        rows = _redis_call(settings, lambda store: store.list_dead(endpoint, limit))
    else:
        conn = _connect(config)
        try:
            rows = sqlite_ops.list_dead(conn, endpoint, limit)
        finally:
            conn.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps(row.__dict__))
        else:
            received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.received_at))
            click.echo(
                f"{row.event_id}  {row.endpoint}  attempts={row.attempts}  received={received}  {row.error}"
            )
    if not as_json:
        click.echo(f"{len(rows)} dead-lettered deliveries", err=True)


@relay.command()
@click.option(
    "--config", "config", type=click.Path(path_type=Path, dir_okay=False), help="relay.yaml to read."
)
@click.option("--endpoint", default=None, help="Only this endpoint's dead letters (and re-enable it).")
@click.option("--id", "event_ids", multiple=True, help="Only these event ids (repeatable).")
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter.")
def replay(config: Path | None, endpoint: str | None, event_ids: tuple[str, ...], replay_all: bool) -> None:
    """Put dead-lettered deliveries back in the queue with a fresh attempt budget.

    A running relay picks them up at its next poll. Raises ConfigError without --all, --endpoint or --id.
    """
    from onprem.relay import sqlite_ops

    if not (replay_all or endpoint or event_ids):
        raise ConfigError("relay replay: name --endpoint, --id or --all")
    settings = _settings(config)
    if settings.store.backend == "redis":
        count = _redis_call(settings, lambda store: store.replay(endpoint, list(event_ids)))
        click.echo(f"requeued {count} deliveries")
        return
    conn = _connect(config)
    try:
        conn.execute("BEGIN IMMEDIATE")
        count = sqlite_ops.replay(conn, time.time(), endpoint, list(event_ids))
        conn.execute("COMMIT")
    finally:
        conn.close()
    click.echo(f"requeued {count} deliveries")
