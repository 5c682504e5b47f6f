"""The stores the relay benchmark compares against the real one, behind the same Store interface.

- NothingStore: acknowledges without storing (the ceiling of the HTTP + parsing + verification path).
- PerRequestCommitStore: one transaction and one fsync per request, on the event loop (no group commit).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from onprem.relay.metrics import StoreGauges
from onprem.relay.store import Delivery, NewEvent, Outcome
from onprem.relay.store import sqlite_sql as ops


class NothingStore:
    """Acks at once; stores nothing."""

    leases_on_append = True

    def __init__(self) -> None:
        self._seq = itertools.count(1)

    @property
    def disabled(self) -> frozenset[str]:
        return frozenset()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def append(self, event: NewEvent) -> int | None:
        return next(self._seq)

    async def claim_due(self, limit: int) -> list[Delivery]:
        return []

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        return None

    async def disable_endpoint(self, name: str, reason: str) -> int:
        return 0

    async def gauges(self) -> StoreGauges:
        return StoreGauges(0, 0.0, 0)

    async def purge(self) -> int:
        return 0

    async def probe(self) -> None:
        return None


class PerRequestCommitStore(NothingStore):
    """The same SQLite schema and pragmas (WAL, synchronous=FULL), one commit per request, on the loop."""

    def __init__(self, data_dir: Path, dedup_window_seconds: float) -> None:
        super().__init__()
        self._data_dir = data_dir
        self._window = dedup_window_seconds
        self._conn: sqlite3.Connection | None = None
        self._last = 0

    async def open(self) -> None:
        self._conn = ops.connect(self._data_dir)
        self._last = ops.last_seq(self._conn)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    async def append(self, event: NewEvent) -> int | None:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        key = event.dedup_key
        if key is not None and self._window > 0:
            # The same two statements the group-committing store runs for a batch, for one event.
            if ops.seen_keys(self._conn, [key], event.received_at - self._window):
                self._conn.execute("COMMIT")
                return None
            ops.remember_keys(self._conn, [(key, event.received_at)])
        self._last += 1
        ops.insert_events(self._conn, [(self._last, event)], [], [], 0.0)
        self._conn.execute("COMMIT")
        return self._last
