"""The embedded default backend: SQLite in WAL mode, one relay process per data directory.

- `SqliteStore` (the Store of a running relay) writes through one group-committing writer thread
  (sqlite_writer.py) and holds an exclusive flock on `<data_dir>/relay.lock` while open, because it hands
  out event numbers itself.
- `SqliteAdmin` (the DeadLetterAdmin of `dlq list` and `replay`) opens its own connection to an existing
  database without that lock: WAL lets it read beside the running relay, and a replay is one
  `BEGIN IMMEDIATE` transaction that waits for the relay's current commit. The relay sees the result at
  its next claim.

Both raise RelayStoreError.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from onprem.relay.metrics import StoreGauges
from onprem.relay.store import sqlite_sql as ops
from onprem.relay.store.records import DeadLetter, Delivery, NewEvent, Outcome, RelayStoreError
from onprem.relay.store.sqlite_writer import GroupCommitter

T = TypeVar("T")


def _lock_dir(data_dir: Path) -> int:
    """An exclusive flock on data_dir/relay.lock, held while the store is open. Raises RelayStoreError."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / "relay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise RelayStoreError(f"cannot use {data_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RelayStoreError(f"another relay process is using {data_dir}") from None
    return fd


class SqliteStore:
    """The embedded default store: SQLite in WAL mode behind a group-committing writer thread."""

    leases_on_append = True

    def __init__(
        self,
        data_dir: Path,
        endpoints: Sequence[str],
        *,
        clock: Callable[[], float],
        max_batch: int = 2048,
        lease_seconds: float = 60.0,
        dedup_window_seconds: float = 86400.0,
        retention_seconds: float = 7 * 86400.0,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._clock = clock
        self._endpoints = list(endpoints)
        self._disabled: set[str] = set()
        self._lease = lease_seconds
        self._window = dedup_window_seconds
        self._retention = retention_seconds
        self._seq = 0
        self._data_dir = data_dir
        self._lock: int | None = None
        self._writer = GroupCommitter(
            lambda: ops.connect(data_dir),
            max_batch,
            on_batch,
            bulk={"append": self._append_bulk, "record": self._record_bulk},
        )

    @property
    def disabled(self) -> frozenset[str]:
        """Endpoints disabled by a 410 (kept in the store, so they stay disabled across restarts)."""
        return frozenset(self._disabled)

    async def open(self) -> None:
        """Open the database and release leases left by a previous process. Raises RelayStoreError, also when
        another relay process already uses this data directory (event numbers are handed out here)."""
        self._lock = _lock_dir(self._data_dir)
        self._writer.start()

        def _open(conn: sqlite3.Connection) -> set[str]:
            ops.release_leases(conn)
            self._seq = ops.last_seq(conn)
            return ops.disabled_endpoints(conn)

        self._disabled = await self._writer.submit(_open)

    async def close(self) -> None:
        """Flush what is queued and close the database."""
        await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
        if self._lock is not None:
            os.close(self._lock)  # closing releases the flock (so does the kernel when we are killed)
            self._lock = None

    async def append(self, event: NewEvent) -> int | None:
        """Commit `event` and its deliveries; returns its sequence number, or None for a duplicate."""
        seq: int | None = await self._writer.submit_bulk("append", event)
        return seq

    def _append_bulk(self, conn: sqlite3.Connection, events: list[NewEvent]) -> list[int | None]:
        # Runs on the writer thread, inside the batch's transaction.
        results: list[int | None] = [None] * len(events)
        window = self._window
        keys = [e.dedup_key for e in events if e.dedup_key is not None] if window > 0 else []
        # One cutoff for the batch (its earliest arrival): batches span milliseconds, windows hours.
        seen = ops.seen_keys(conn, keys, min(e.received_at for e in events) - window) if keys else set()
        fresh: list[tuple[int, NewEvent]] = []
        remember: list[tuple[str, float]] = []
        for index, event in enumerate(events):
            key = event.dedup_key
            if key is not None and window > 0:
                if key in seen:
                    continue
                seen.add(key)
                remember.append((key, event.received_at))
            self._seq += 1
            results[index] = self._seq
            fresh.append((self._seq, event))
        active = [name for name in self._endpoints if name not in self._disabled]
        disabled = [name for name in self._endpoints if name in self._disabled]
        ops.remember_keys(conn, remember)
        ops.insert_events(conn, fresh, active, disabled, self._lease)
        return results

    async def claim_due(self, limit: int) -> list[Delivery]:
        """Lease up to `limit` due deliveries to enabled endpoints."""
        now = self._clock()

        def _claim(conn: sqlite3.Connection) -> list[Delivery]:
            # Re-read the disabled set each time: `onprem relay replay` re-enables endpoints from outside.
            self._disabled = ops.disabled_endpoints(conn)
            active = [name for name in self._endpoints if name not in self._disabled]
            return ops.claim_due(conn, active, now, self._lease, limit)

        return await self._writer.submit(_claim)

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Commit the outcomes of delivery attempts."""
        await self._writer.submit_bulk("record", outcomes)

    def _record_bulk(self, conn: sqlite3.Connection, batches: list[Sequence[Outcome]]) -> list[None]:
        ops.record_outcomes(conn, [outcome for batch in batches for outcome in batch], self._clock())
        return [None] * len(batches)

    async def disable_endpoint(self, name: str, reason: str) -> int:
        """Disable `name` (it answered 410) and dead-letter its pending deliveries; returns how many."""
        self._disabled.add(name)
        now = self._clock()
        count: int = await self._writer.submit(lambda conn: ops.disable_endpoint(conn, name, now, reason))
        return count

    async def gauges(self) -> StoreGauges:
        """Pending and dead-letter counts and the age of the oldest pending event."""
        now = self._clock()
        pending, oldest, dead = await self._writer.submit(ops.stats)
        age = 0.0 if oldest is None else max(0.0, now - oldest)
        return StoreGauges(pending=pending, oldest_pending_age_seconds=age, dead=dead)

    async def purge(self) -> int:
        """Delete delivered events older than the retention and expired dedup keys; returns events deleted.

        Runs in chunks, each its own transaction, so acknowledgements keep flowing during a large purge.
        """
        now = self._clock()
        total = 0
        while True:
            deleted: int = await self._writer.submit(
                lambda conn: ops.purge(conn, now - self._retention, now - self._window)
            )
            total += deleted
            if deleted < ops.PURGE_CHUNK:
                return total

    async def probe(self) -> None:
        """Commit a tiny write. Raises RelayStoreError when the database does not accept commits."""
        now = self._clock()
        await self._writer.submit(lambda conn: ops.probe(conn, now))


class SqliteAdmin:
    """Dead letters of an existing SQLite store, listed and replayed beside a running relay.

    Each call runs on a worker thread (the database may be busy with the relay's commit for a moment).
    """

    def __init__(self, data_dir: Path, *, clock: Callable[[], float]) -> None:
        self._data_dir = data_dir
        self._clock = clock
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        """The database file this admin works on."""
        return self._data_dir / ops.DB_NAME

    async def open(self) -> None:
        """Connect to the database. Raises RelayStoreError when there is none at `path` (nothing is
        created then) or it cannot be opened."""
        if not self.path.is_file():
            raise RelayStoreError(f"no relay store at {self.path}")
        try:
            self._conn = await asyncio.to_thread(ops.connect, self._data_dir)
        except (sqlite3.Error, OSError) as exc:
            raise RelayStoreError(f"cannot open the store {self.path} ({exc})") from None

    async def close(self) -> None:
        """Close the connection (a no-op when it is not open)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    async def list_dead(self, endpoint: str | None, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters (of `endpoint` only, when given), oldest first.
        Raises RelayStoreError."""
        return await self._call(lambda conn: ops.list_dead(conn, endpoint, limit))

    async def replay(self, endpoint: str | None, event_ids: Sequence[str]) -> int:
        """Requeue dead letters (all, `endpoint`'s, those of `event_ids`) with a fresh attempt budget and
        re-enable their endpoints, in one transaction; returns how many. Raises RelayStoreError."""
        now, ids = self._clock(), list(event_ids)

        def _replay(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")  # waits (up to the busy timeout) for the relay's commit
            try:
                count = ops.replay(conn, now, endpoint, ids)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return count

        return await self._call(_replay)

    async def bodies_mentioning(self, needle: str, since: float, limit: int) -> list[bytes]:
        """Bodies of events since `since` containing `needle`, oldest first. Raises RelayStoreError."""
        return await self._call(lambda conn: ops.bodies_mentioning(conn, needle, since, limit))

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RelayStoreError("the store is closed")
        try:
            return await asyncio.to_thread(work, conn)
        except sqlite3.Error as exc:
            raise RelayStoreError(f"store {self.path}: {exc}") from None
