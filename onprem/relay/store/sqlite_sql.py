"""The relay's SQLite schema and the SQL of every store operation, as plain functions of a connection.

These run inside the SQLite store's single writer thread (sqlite.py, sqlite_writer.py), which wraps a
whole batch of them in one transaction, and in the dead-letter admin on its own connection. Nothing here
commits. Every function may raise sqlite3.Error; its callers turn that into RelayStoreError.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from onprem.relay.store.records import DEAD, PENDING, DeadLetter, Delivery, NewEvent, Outcome

# The SQL below spells the delivery states (records.py) as the literals 0, 1, 2, so that no query is built
# by formatting.
DB_NAME = "relay.sqlite3"
PURGE_CHUNK = 5000  # rows per purge transaction: ingest commits interleave between chunks
EVENT_CHUNK = 500  # rows per INSERT: 2,500 bound values, under SQLite's limit of 32,766

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_seq INTEGER NOT NULL,
    endpoint TEXT NOT NULL,
    state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (event_seq, endpoint)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, seen_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_seen ON dedup (seen_at);
CREATE TABLE IF NOT EXISTS disabled_endpoints (
    name TEXT PRIMARY KEY, since REAL NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY CHECK (id = 1), probed_at REAL NOT NULL);
"""


def connect(data_dir: Path) -> sqlite3.Connection:
    """Open (creating) the relay database in WAL mode with FULL sync. Raises sqlite3.Error or OSError."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are explicit, so one BEGIN..COMMIT spans a whole batch.
    conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so an acknowledged event survives power loss too.
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    return conn


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest event sequence number ever used (the store hands out the next ones itself)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    (highest,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
    return max(int(row[0]) if row else 0, int(highest))


@functools.lru_cache(maxsize=64)
def _events_insert(rows: int) -> str:
    # Only the number of placeholder groups varies; no value is ever formatted into the SQL.
    placeholders = ",".join(["(?,?,?,?,?)"] * rows)
    return "INSERT INTO events (seq, id, source, received_at, body) VALUES " + placeholders  # noqa: S608


def insert_events(
    conn: sqlite3.Connection,
    events: Sequence[tuple[int, NewEvent]],
    endpoints: Sequence[str],
    disabled: Sequence[str],
    lease: float,
) -> None:
    """Insert numbered events with one delivery row per endpoint, in a handful of statements.

    Few statements matter more than few rows: the sqlite3 module releases and re-takes the GIL around
    every statement step, and each re-take can wait for the event loop thread. Deliveries to `endpoints`
    are pending and leased for `lease` seconds (the dispatcher holds them in memory); deliveries to
    `disabled` endpoints (410) go straight to the dead letters, so a later `replay` can still bring them.
    """
    for start in range(0, len(events), EVENT_CHUNK):
        chunk = events[start : start + EVENT_CHUNK]
        values = [v for seq, e in chunk for v in (seq, e.event_id, e.source, e.received_at, e.body)]
        conn.execute(_events_insert(len(chunk)), values)
    rows = [
        (seq, name, PENDING, e.received_at, e.received_at + lease, "")
        for seq, e in events
        for name in endpoints
    ]
    rows += [
        (seq, name, DEAD, e.received_at, 0.0, "endpoint disabled (410)")
        for seq, e in events
        for name in disabled
    ]
    if rows:
        conn.execute(
            "INSERT INTO deliveries"
            " (event_seq, endpoint, state, next_at, lease_until, last_error, updated_at)"
            " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,"
            " value ->> 3 FROM json_each(?)",
            (json.dumps(rows),),
        )


def insert_event(
    conn: sqlite3.Connection, event: NewEvent, endpoints: Sequence[str], disabled: Sequence[str], lease: float
) -> int:
    """Insert one event (numbered after the highest so far) with its deliveries; returns its number."""
    seq = last_seq(conn) + 1
    insert_events(conn, [(seq, event)], endpoints, disabled, lease)
    return seq


def seen_keys(conn: sqlite3.Connection, keys: Sequence[str], cutoff: float) -> set[str]:
    """Which of `keys` were seen after `cutoff` (one statement for the whole batch)."""
    if not keys:
        return set()
    rows = conn.execute(
        "SELECT key FROM dedup WHERE seen_at >= ? AND key IN (SELECT value FROM json_each(?))",
        (cutoff, json.dumps(list(keys))),
    )
    return {row[0] for row in rows}


def remember_keys(conn: sqlite3.Connection, keys: Sequence[tuple[str, float]]) -> None:
    """Record dedup keys as seen at their times (one statement)."""
    if keys:
        conn.execute(
            "INSERT INTO dedup (key, seen_at) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true"
            " ON CONFLICT (key) DO UPDATE SET seen_at = excluded.seen_at",
            (json.dumps(list(keys)),),
        )


def claim_due(
    conn: sqlite3.Connection, endpoints: Sequence[str], now: float, lease: float, limit: int
) -> list[Delivery]:
    """Pending deliveries due at `now` and not leased, leased to the caller until `now + lease`."""
    if not endpoints:
        return []
    # One result row holding a JSON array: the sqlite3 module releases the GIL at every row step, and
    # thousands of re-takes against a busy event loop made large claims take seconds. Bodies are UTF-8
    # (the ingress decoded them as such), so the text round trip gives back the exact bytes.
    # json_each keeps the SQL static whatever the number of endpoints.
    (packed,) = conn.execute(
        "WITH due AS (SELECT event_seq, endpoint, attempts FROM deliveries"
        " WHERE state = 0 AND next_at <= ?1 AND lease_until <= ?1"
        " AND endpoint IN (SELECT value FROM json_each(?2)) ORDER BY next_at LIMIT ?3)"
        " SELECT json_group_array(json_array(due.event_seq, e.id, due.endpoint, due.attempts, e.received_at,"
        " e.source, CAST(e.body AS TEXT))) FROM due JOIN events e ON e.seq = due.event_seq",
        (now, json.dumps(list(endpoints)), limit),
    ).fetchone()
    rows = json.loads(packed)
    if rows:
        conn.execute(
            "UPDATE deliveries SET lease_until = ? FROM json_each(?) AS c"
            " WHERE deliveries.event_seq = c.value ->> 0 AND deliveries.endpoint = c.value ->> 1",
            (now + lease, json.dumps([[row[0], row[2]] for row in rows])),
        )
    return [
        Delivery(seq, eid, name, attempts, at, source, body.encode())
        for seq, eid, name, attempts, at, source, body in rows
    ]


def record_outcomes(conn: sqlite3.Connection, outcomes: Iterable[Outcome], now: float) -> None:
    """Write the results of delivery attempts and release their leases."""
    rows = [(o.seq, o.endpoint, o.state, o.attempts, o.next_at, o.error[:500]) for o in outcomes]
    if rows:  # one statement for the lot (see insert_events on why statements are what costs)
        conn.execute(
            "UPDATE deliveries SET state = o.value ->> 2, attempts = o.value ->> 3, next_at = o.value ->> 4,"
            " lease_until = 0, last_error = o.value ->> 5, updated_at = ? FROM json_each(?) AS o"
            " WHERE deliveries.event_seq = o.value ->> 0 AND deliveries.endpoint = o.value ->> 1",
            (now, json.dumps(rows)),
        )


def release_leases(conn: sqlite3.Connection) -> None:
    """Forget every lease: after a restart nothing is in flight, so everything pending is due again."""
    conn.execute("UPDATE deliveries SET lease_until = 0 WHERE state = 0 AND lease_until > 0")


def disable_endpoint(conn: sqlite3.Connection, name: str, now: float, reason: str) -> int:
    """Mark an endpoint disabled and dead-letter its pending deliveries; returns how many."""
    conn.execute(
        "INSERT INTO disabled_endpoints (name, since, reason) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET since = excluded.since, reason = excluded.reason",
        (name, now, reason),
    )
    cur = conn.execute(
        "UPDATE deliveries SET state = 2, lease_until = 0, last_error = ?, updated_at = ?"
        " WHERE endpoint = ? AND state = 0",
        (reason, now, name),
    )
    return cur.rowcount


def disabled_endpoints(conn: sqlite3.Connection) -> set[str]:
    """Names of endpoints disabled by a 410."""
    return {row[0] for row in conn.execute("SELECT name FROM disabled_endpoints")}


def stats(conn: sqlite3.Connection) -> tuple[int, float | None, int]:
    """(pending deliveries, received_at of the oldest pending event or None, dead deliveries)."""
    pending, oldest = conn.execute(
        "SELECT COUNT(*), MIN(e.received_at) FROM deliveries d JOIN events e ON e.seq = d.event_seq"
        " WHERE d.state = 0"
    ).fetchone()
    (dead,) = conn.execute("SELECT COUNT(*) FROM deliveries WHERE state = 2").fetchone()
    return int(pending), oldest, int(dead)


def purge(conn: sqlite3.Connection, older_than: float, dedup_cutoff: float, limit: int = PURGE_CHUNK) -> int:
    """Delete up to `limit` events received before `older_than` that no delivery still needs (with their
    delivery rows), and up to `limit` expired dedup keys; returns the number of events deleted.

    Bounded, so one call never holds the writer for long: callers repeat it until it returns < limit.
    """
    (packed,) = conn.execute(
        "SELECT json_group_array(seq) FROM (SELECT seq FROM events e WHERE received_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.state != 1)"
        " ORDER BY received_at LIMIT ?)",
        (older_than, limit),
    ).fetchone()
    conn.execute("DELETE FROM deliveries WHERE event_seq IN (SELECT value FROM json_each(?))", (packed,))
    cur = conn.execute("DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))", (packed,))
    conn.execute(
        "DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE seen_at < ? ORDER BY seen_at LIMIT ?)",
        (dedup_cutoff, limit),
    )
    return cur.rowcount


def probe(conn: sqlite3.Connection, now: float) -> None:
    """A tiny write that proves the database accepts commits."""
    conn.execute(
        "INSERT INTO health (id, probed_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET probed_at = ?",
        (now, now),
    )


def list_dead(conn: sqlite3.Connection, endpoint: str | None, limit: int) -> list[DeadLetter]:
    """Dead-lettered deliveries, oldest first."""
    rows = conn.execute(
        "SELECT e.id, d.endpoint, d.attempts, e.received_at, d.updated_at, d.last_error, length(e.body)"
        " FROM deliveries d JOIN events e ON e.seq = d.event_seq"
        " WHERE d.state = 2 AND (? IS NULL OR d.endpoint = ?) ORDER BY e.seq LIMIT ?",
        (endpoint, endpoint, limit),
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def replay(conn: sqlite3.Connection, now: float, endpoint: str | None, event_ids: Sequence[str]) -> int:
    """Move dead deliveries (all, or of one endpoint, or of the given event ids) back to pending with a
    fresh attempt budget, and re-enable the endpoints involved. Returns how many were requeued."""
    ids = json.dumps(list(event_ids)) if event_ids else None
    names = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT endpoint FROM deliveries WHERE state = 2 AND (?1 IS NULL OR endpoint = ?1)"
            " AND (?2 IS NULL OR event_seq IN"
            " (SELECT seq FROM events WHERE id IN (SELECT value FROM json_each(?2))))",
            (endpoint, ids),
        )
    ]
    conn.executemany("DELETE FROM disabled_endpoints WHERE name = ?", [(name,) for name in names])
    cur = conn.execute(
        "UPDATE deliveries SET state = 0, attempts = 0, next_at = ?3, lease_until = 0, updated_at = ?3,"
        " last_error = '' WHERE state = 2 AND (?1 IS NULL OR endpoint = ?1)"
        " AND (?2 IS NULL OR event_seq IN"
        " (SELECT seq FROM events WHERE id IN (SELECT value FROM json_each(?2))))",
        (endpoint, ids, now),
    )
    return cur.rowcount


def bodies_mentioning(conn: sqlite3.Connection, needle: str, since: float, limit: int) -> list[bytes]:
    """The bodies of events received at or after `since` that contain `needle`, oldest first (at most
    `limit`, the newest ones)."""
    rows = conn.execute(
        "SELECT body FROM (SELECT seq, body FROM events WHERE received_at >= ? AND instr(body, ?) > 0"
        " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        (since, needle.encode(), limit),
    ).fetchall()
    return [bytes(row[0]) for row in rows]
