"""The relay's durable store: two protocols, two backends, and the two factories that pick one.

    open_store(settings)  -> Store            what a running relay uses (relay/service.py)
    open_admin(settings)  -> DeadLetterAdmin  what `onprem relay dlq list | replay` use (relay/cli.py)

Both read `settings.store.backend`: `sqlite` (embedded, one relay process per data directory) or
`redis` (Redis Streams, several replicas). Both return the object unopened: the caller awaits `open()`,
which raises RelayStoreError, and `close()`. An admin works beside a running relay on the same store.

Modules:
  records        NewEvent, Delivery, Outcome, DeadLetter, the delivery states, RelayStoreError
  base           the Store and DeadLetterAdmin protocols
  sqlite         SqliteStore and SqliteAdmin (WAL, flock on the data directory for the store only)
  sqlite_writer  GroupCommitter: one writer thread, one transaction and one fsync per batch
  sqlite_sql     the SQLite schema and the SQL of every operation
  redis          RedisStore (Streams, one consumer group per endpoint, leases), the key layout
  redis_admin    RedisAdmin: dead letters listed and replayed beside the replicas
  redis_scripts  the Lua scripts of every Redis operation
  redis_batch    client-side group commit: concurrent script calls share one pipeline
Only a relay configured for Redis imports the Redis client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from onprem.relay.store.base import DeadLetterAdmin, Store
from onprem.relay.store.records import (
    DEAD,
    DELIVERED,
    PENDING,
    DeadLetter,
    Delivery,
    NewEvent,
    Outcome,
    RelayStoreError,
)

if TYPE_CHECKING:
    from onprem.relay.settings import RelaySettings

__all__ = [
    "DEAD",
    "DELIVERED",
    "PENDING",
    "DeadLetter",
    "DeadLetterAdmin",
    "Delivery",
    "NewEvent",
    "Outcome",
    "RelayStoreError",
    "Store",
    "lease_seconds",
    "open_admin",
    "open_store",
]


def lease_seconds(settings: RelaySettings) -> float:
    """How long a handed-out delivery is withheld from other workers: the setting, else max(60 s, twice
    the longest endpoint timeout)."""
    if settings.store.lease_seconds is not None:
        return settings.store.lease_seconds
    return max(60.0, 2 * max((e.timeout_seconds for e in settings.delivery.endpoints), default=0.0))


def open_store(
    settings: RelaySettings,
    *,
    clock: Callable[[], float] = time.time,
    on_batch: Callable[[int], None] = lambda size: None,
) -> Store:
    """The store `settings.store` names, not yet opened (the caller awaits `open()` and `close()`).

    `on_batch` hears the size of every group commit (SQLite transaction or Redis pipeline). Nothing is
    read or connected here, so nothing raises; `open()` raises RelayStoreError.
    """
    s = settings.store
    names = [e.name for e in settings.delivery.endpoints]
    if s.backend == "redis":
        from onprem.relay.store.redis import RedisStore  # only relays using Redis import its client

        return RedisStore(
            s.redis,
            names,
            clock=clock,
            lease_seconds=lease_seconds(settings),
            dedup_window_seconds=s.dedup_window_seconds,
            retention_seconds=s.retention_seconds,
            on_batch=on_batch,
        )
    from onprem.relay.store.sqlite import SqliteStore

    return SqliteStore(
        Path(s.data_dir),
        names,
        clock=clock,
        max_batch=s.max_batch,
        lease_seconds=lease_seconds(settings),
        dedup_window_seconds=s.dedup_window_seconds,
        retention_seconds=s.retention_seconds,
        on_batch=on_batch,
    )


def open_admin(settings: RelaySettings, *, clock: Callable[[], float] = time.time) -> DeadLetterAdmin:
    """The dead-letter admin of the store `settings.store` names, not yet opened.

    It takes no lock a relay holds, so it works while a relay runs on the same store. Its `open()` raises
    RelayStoreError when there is no store (SQLite: no database file, whose path the message names) or
    the store cannot be reached (Redis).
    """
    s = settings.store
    if s.backend == "redis":
        from onprem.relay.store.redis_admin import RedisAdmin

        return RedisAdmin(s.redis, [e.name for e in settings.delivery.endpoints], clock=clock)
    from onprem.relay.store.sqlite import SqliteAdmin

    return SqliteAdmin(Path(s.data_dir), clock=clock)
