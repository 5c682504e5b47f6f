"""The relay's durable store: the interface the server and dispatcher use, and its SQLite implementation.

SQLite is written by one thread only. Every operation (an insert, a claim of due deliveries, an outcome)
is queued to that thread, which takes everything pending, runs it in ONE transaction, commits once (WAL,
fsync), and only then resolves the callers' futures: many concurrent requests share one commit (group
commit), so the 200 goes out after the event is durable without paying one fsync per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from onprem.relay import sqlite_ops as ops
from onprem.relay.metrics import StoreGauges
from onprem.relay.sqlite_ops import Delivery, NewEvent, Outcome

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
Bulk = Callable[[sqlite3.Connection, list[Any]], list[Any]]
# (bulk kind or None for a plain operation, the operation or the bulk payload, future, its loop)
_Item = tuple[str | None, Any, "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Settled = tuple["asyncio.Future[Any]", asyncio.AbstractEventLoop, Any, BaseException | None]
_STOP = object()


class StoreError(Exception):
    """The store could not commit (disk full, I/O error, closed). Requests get a 503, never a 200."""


class Store(Protocol):
    """What the server and the dispatcher need from a durable store."""

    leases_on_append: bool
    """Whether an append can lease the event to this process's dispatcher, which then delivers it from
    memory (the fast path); otherwise the dispatcher finds it by polling."""

    @property
    def disabled(self) -> frozenset[str]: ...
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def append(self, event: NewEvent) -> int | None:
        """Commit an event with its deliveries; None when it is a duplicate. Raises StoreError."""
        ...

    async def claim_due(self, limit: int) -> list[Delivery]: ...
    async def record(self, outcomes: Sequence[Outcome]) -> None: ...
    async def disable_endpoint(self, name: str, reason: str) -> int: ...
    async def gauges(self) -> StoreGauges: ...
    async def purge(self) -> int: ...
    async def probe(self) -> None: ...


class GroupCommitter:
    """Runs operations on a dedicated thread, as many per transaction as are waiting (up to `max_batch`).

    Plain operations are callables of the connection. Bulk operations (`submit_bulk(kind, payload)`) are
    handed to the handler registered for their kind as one list per transaction, so a batch of a thousand
    inserts costs a few SQL statements rather than thousands.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        max_batch: int,
        on_batch: Callable[[int], None],
        bulk: dict[str, Bulk] | None = None,
    ) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._bulk = bulk or {}
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Open the connection on the writer thread. Raises StoreError when the database can't be opened."""
        self._thread = threading.Thread(target=self._run, name="relay-store", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise StoreError(f"cannot open the store: {self._error}") from self._error

    def submit(self, op: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `op`; the future resolves with its result once the transaction holding it committed."""
        return self._put(None, op)

    def submit_bulk(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        """Queue one payload for the `kind` handler; resolves with its result after the commit."""
        return self._put(kind, payload)

    def _put(self, kind: str | None, payload: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._thread is None or not self._thread.is_alive():
            future.set_exception(StoreError("the store is closed"))
            return future
        self._queue.put((kind, payload, future, loop))
        return future

    def stop(self) -> None:
        """Finish what is queued, then close the connection."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except (sqlite3.Error, OSError) as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            stopping = False
            while not stopping:
                batch: list[_Item] = []
                item = self._queue.get()
                while True:
                    if item is _STOP:
                        stopping = True
                    else:
                        batch.append(item)  # type: ignore[arg-type]
                    if len(batch) >= self._max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._execute(conn, batch)
        finally:
            conn.close()

    def _apply(self, conn: sqlite3.Connection, batch: list[_Item]) -> list[_Settled]:
        settled: list[_Settled] = []
        groups: dict[str, list[_Item]] = {}
        for item in batch:
            kind, payload, fut, loop = item
            if kind is None:
                settled.append((fut, loop, payload(conn), None))
            else:
                groups.setdefault(kind, []).append(item)
        for kind, items in groups.items():
            values = self._bulk[kind](conn, [payload for _, payload, _, _ in items])
            settled += [
                (fut, loop, value, None) for (_, _, fut, loop), value in zip(items, values, strict=True)
            ]
        return settled

    def _execute(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = self._apply(conn, batch)
            conn.execute("COMMIT")
        except Exception:
            # One bad operation must not fail its neighbours: roll back, then give each its own transaction.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            results = [self._execute_one(conn, item) for item in batch]
        self._on_batch(len(batch))
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for fut, loop, value, error in results:
            by_loop.setdefault(loop, []).append((fut, value, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while we wrote: nobody waits
                loop.call_soon_threadsafe(_settle, settled)

    def _execute_one(self, conn: sqlite3.Connection, item: _Item) -> _Settled:
        _, _, fut, loop = item
        try:
            conn.execute("BEGIN IMMEDIATE")
            (result,) = self._apply(conn, [item])
            conn.execute("COMMIT")
        except Exception as exc:  # any failure is this operation's alone; the writer thread must live on
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return fut, loop, None, StoreError(f"store write failed: {exc}")
        return result


def _lock_dir(data_dir: Path) -> int:
    """An exclusive flock on data_dir/relay.lock, held while the store is open. Raises StoreError."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / "relay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot use {data_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(f"another relay process is using {data_dir}") from None
    return fd


def _settle(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, error in settled:
        if fut.done():  # the request was cancelled (client went away); its event is stored all the same
            continue
        if error is None:
            fut.set_result(value)
        else:
            fut.set_exception(error)


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
        """Open the database and release leases left by a previous process. Raises StoreError, also when
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
        """Commit a tiny write. Raises StoreError when the database does not accept commits."""
        now = self._clock()
        await self._writer.submit(lambda conn: ops.probe(conn, now))
