"""Group commit on SQLite: one writer thread runs every queued operation, as many per transaction as wait.

Every operation (an insert, a claim of due deliveries, an outcome) is queued to that thread, which takes
everything pending, runs it in ONE transaction, commits once (WAL, fsync), and only then resolves the
callers' futures: many concurrent requests share one commit, so the 200 goes out after the event is
durable without paying one fsync per request. Failures reach the callers as RelayStoreError.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from onprem.relay.store.records import RelayStoreError

T = TypeVar("T")
Bulk = Callable[[sqlite3.Connection, list[Any]], list[Any]]
# (bulk kind or None for a plain operation, the operation or the bulk payload, future, its loop)
_Item = tuple[str | None, Any, "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Settled = tuple["asyncio.Future[Any]", asyncio.AbstractEventLoop, Any, BaseException | None]
_STOP = object()


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
        """Open the connection on the writer thread. Raises RelayStoreError when the database can't be
        opened."""
        self._thread = threading.Thread(target=self._run, name="relay-store", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RelayStoreError(f"cannot open the store: {self._error}") from self._error

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
            future.set_exception(RelayStoreError("the store is closed"))
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
            return fut, loop, None, RelayStoreError(f"store write failed: {exc}")
        return result


def _settle(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, error in settled:
        if fut.done():  # the request was cancelled (client went away); its event is stored all the same
            continue
        if error is None:
            fut.set_result(value)
        else:
            fut.set_exception(error)
