"""The Cloud API emulator's own database (SQLite): registrations, subscriptions, messages, 24-hour
windows, media and the durable queue of outbound webhooks.

One connection guarded by a lock; every write commits before the call returns, so what an answer
reported (a wamid, a queued webhook) survives a crash. Calls are short and run on the event loop's
thread or a worker thread alike. Raises sqlite3.Error only on a broken database file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
EventRow = tuple[str, str, str, bytes]
"""A webhook to queue: (waba_id, phone_number_id, kind, exact body bytes)."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS numbers (
    id TEXT PRIMARY KEY,
    registered INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'PENDING',
    platform_type TEXT NOT NULL DEFAULT 'ON_PREMISE',
    region TEXT,
    pin_hash TEXT,
    from_backup INTEGER NOT NULL DEFAULT 0,
    registered_at REAL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    waba_id TEXT PRIMARY KEY,
    callback TEXT,
    subscribed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    wamid TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    peer TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    phone_number_id TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    last_inbound REAL NOT NULL,
    PRIMARY KEY (phone_number_id, wa_id)
);
CREATE TABLE IF NOT EXISTS media (
    id TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    waba_id TEXT NOT NULL,
    phone_number_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    created_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS events_due ON events (state, next_at);
"""


@dataclass(frozen=True)
class NumberState:
    id: str
    registered: bool
    status: str
    platform_type: str
    region: str | None
    pin_hash: str | None
    from_backup: bool


@dataclass(frozen=True)
class Media:
    id: str
    phone_number_id: str
    mime_type: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Event:
    """One outbound webhook: the exact body bytes signed and sent on every attempt."""

    seq: int
    waba_id: str
    phone_number_id: str
    kind: str
    body: bytes
    attempts: int
    next_at: float
    created_at: float


class CloudStore:
    """The emulator's state in one SQLite file (`:memory:` for tests that need no restart)."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Created private before SQLite opens it (its -wal and -shm files take the same mode).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        with self._lock:
            self._db.executescript(_SCHEMA)
        with self._tx() as db:
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"{path}: schema {row[0]}, this emulator knows {SCHEMA_VERSION}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- phone numbers -------------------------------------------------------------------------------

    def number(self, number_id: str) -> NumberState:
        """The registration state of a configured number (a fresh one is PENDING on ON_PREMISE)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM numbers WHERE id = ?", (number_id,)).fetchone()
        if row is None:
            return NumberState(number_id, False, "PENDING", "ON_PREMISE", None, None, False)
        return NumberState(
            row["id"],
            bool(row["registered"]),
            row["status"],
            row["platform_type"],
            row["region"],
            row["pin_hash"],
            bool(row["from_backup"]),
        )

    def put_number(self, state: NumberState, *, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO numbers (id, registered, status, platform_type, region, pin_hash, from_backup,"
                " registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " registered = excluded.registered, status = excluded.status,"
                " platform_type = excluded.platform_type, region = excluded.region,"
                " pin_hash = excluded.pin_hash, from_backup = excluded.from_backup,"
                " registered_at = excluded.registered_at",
                (
                    state.id,
                    int(state.registered),
                    state.status,
                    state.platform_type,
                    state.region,
                    state.pin_hash,
                    int(state.from_backup),
                    now if state.registered else None,
                ),
            )

    # -- subscriptions -------------------------------------------------------------------------------

    def subscription(self, waba_id: str) -> tuple[bool, str | None]:
        """(subscribed, override callback or None)."""
        with self._tx() as db:
            row = db.execute("SELECT callback FROM subscriptions WHERE waba_id = ?", (waba_id,)).fetchone()
        return (False, None) if row is None else (True, row["callback"])

    def subscribe(self, waba_id: str, callback: str | None, *, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO subscriptions VALUES (?, ?, ?) ON CONFLICT (waba_id) DO UPDATE SET"
                " callback = excluded.callback, subscribed_at = excluded.subscribed_at",
                (waba_id, callback, now),
            )

    def unsubscribe(self, waba_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM subscriptions WHERE waba_id = ?", (waba_id,))

    # -- messages and windows ------------------------------------------------------------------------

    def add_message(
        self,
        wamid: str,
        number_id: str,
        direction: str,
        peer: str,
        kind: str,
        body: dict[str, Any],
        status: str,
        *,
        now: float,
        events: Sequence[EventRow] = (),
    ) -> None:
        """Record a message and, in the same transaction, queue its webhooks `(waba, number, kind, body)`;
        an inbound message also opens the user's 24-hour window."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (wamid, number_id, direction, peer, kind, json.dumps(body), status, now),
            )
            if direction == "in":
                db.execute(
                    "INSERT INTO windows VALUES (?, ?, ?) ON CONFLICT (phone_number_id, wa_id)"
                    " DO UPDATE SET last_inbound = excluded.last_inbound",
                    (number_id, peer, now),
                )
            _queue(db, events, now)

    def last_inbound(self, number_id: str, wa_id: str) -> float | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT last_inbound FROM windows WHERE phone_number_id = ? AND wa_id = ?", (number_id, wa_id)
            ).fetchone()
        return None if row is None else float(row[0])

    # -- media ---------------------------------------------------------------------------------------

    def add_media(self, media: Media, data: bytes, *, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO media VALUES (?, ?, ?, ?, ?, ?, ?)",
                (media.id, media.phone_number_id, media.mime_type, media.sha256, media.size, data, now),
            )

    def media(self, media_id: str) -> Media | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT id, phone_number_id, mime_type, sha256, size FROM media WHERE id = ?", (media_id,)
            ).fetchone()
        return None if row is None else Media(*row)

    def media_bytes(self, media_id: str) -> bytes | None:
        with self._tx() as db:
            row = db.execute("SELECT data FROM media WHERE id = ?", (media_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def delete_media(self, media_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM media WHERE id = ?", (media_id,)).rowcount > 0

    # -- the webhook queue ---------------------------------------------------------------------------

    def queue(self, events: Sequence[EventRow], *, now: float) -> None:
        """Queue webhooks `(waba_id, phone_number_id, kind, body)`, due now."""
        with self._tx() as db:
            _queue(db, events, now)

    def due(self, now: float, limit: int = 100) -> list[Event]:
        """Pending events due at `now`, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, waba_id, phone_number_id, kind, body, attempts, next_at, created_at FROM events"
                " WHERE state = 'pending' AND next_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
        return [Event(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7]) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest pending event is due (None: nothing pending)."""
        with self._tx() as db:
            row = db.execute("SELECT MIN(next_at) FROM events WHERE state = 'pending'").fetchone()
        return None if row[0] is None else float(row[0])

    def delivered(self, seq: int, *, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE events SET state = 'delivered', attempts = attempts + 1, delivered_at = ?,"
                " last_error = NULL WHERE seq = ?",
                (now, seq),
            )

    def failed(self, seq: int, error: str, *, retry_at: float | None) -> None:
        """Count a failed attempt: retry at `retry_at`, or expire the event when None."""
        with self._tx() as db:
            if retry_at is None:
                db.execute(
                    "UPDATE events SET state = 'expired', attempts = attempts + 1, last_error = ?"
                    " WHERE seq = ?",
                    (error, seq),
                )
            else:
                db.execute(
                    "UPDATE events SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ?",
                    (retry_at, error, seq),
                )

    def defer(self, seq: int, until: float, reason: str) -> None:
        """Hold an event without counting an attempt (no callback to send it to yet)."""
        with self._tx() as db:
            db.execute("UPDATE events SET next_at = ?, last_error = ? WHERE seq = ?", (until, reason, seq))

    def wake(self, waba_id: str, *, now: float) -> None:
        """Make a WABA's held events due now (a callback was just subscribed)."""
        with self._tx() as db:
            db.execute(
                "UPDATE events SET next_at = ? WHERE waba_id = ? AND state = 'pending' AND attempts = 0",
                (now, waba_id),
            )

    # -- the test-only dump --------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Every table as JSON-ready rows (no media bytes, no PIN hash: `pin_set` instead)."""
        with self._tx() as db:
            numbers = [
                {
                    "id": r["id"],
                    "registered": bool(r["registered"]),
                    "status": r["status"],
                    "platform_type": r["platform_type"],
                    "region": r["region"],
                    "pin_set": r["pin_hash"] is not None,
                    "from_backup": bool(r["from_backup"]),
                    "registered_at": r["registered_at"],
                }
                for r in db.execute("SELECT * FROM numbers ORDER BY id")
            ]
            subscriptions = [dict(r) for r in db.execute("SELECT * FROM subscriptions ORDER BY waba_id")]
            messages = [
                {**dict(r), "body": json.loads(r["body"])}
                for r in db.execute("SELECT * FROM messages ORDER BY created_at, wamid")
            ]
            windows = [dict(r) for r in db.execute("SELECT * FROM windows ORDER BY phone_number_id, wa_id")]
            media = [
                dict(r)
                for r in db.execute(
                    "SELECT id, phone_number_id, mime_type, sha256, size, created_at FROM media ORDER BY id"
                )
            ]
            events = [
                {**dict(r), "body": json.loads(bytes(r["body"]))}
                for r in db.execute("SELECT * FROM events ORDER BY seq")
            ]
        return {
            "numbers": numbers,
            "subscriptions": subscriptions,
            "messages": messages,
            "windows": windows,
            "media": media,
            "webhooks": events,
        }


def _queue(db: sqlite3.Connection, events: Sequence[EventRow], now: float) -> None:
    db.executemany(
        "INSERT INTO events (waba_id, phone_number_id, kind, body, next_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(waba, number, kind, body, now, now) for waba, number, kind, body in events],
    )
