"""Creating, checking and upgrading the emulator's tables at the schema of the running client.

Every process checks the schema when it opens the database (`prepare`). A fresh database is created
at its client's schema; an older one is refused unless the process is the one-shot upgrade
(`WA_DB_UPGRADE=1`), which migrates it step by step and keeps every row; a newer one is always refused
(`versions.check_schema` words the refusal). The schema version is the `schema_version` row of
`settings`. The tables of schema N are the base tables plus the changes of every step up to N, so a
fresh database and an upgraded one are the same. Each change checks before it alters, so a step cut
short (MySQL commits DDL at once) completes on the next run.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from onprem.emulator.dbconnect import Cursor, Dialect
from onprem.emulator.store import DEFAULT_ADMIN, ClientStateError, Store
from onprem.emulator.versions import (
    SCHEMAS,
    ClientVersion,
    SchemaLevel,
    check_schema,
    schema_label,
    steps_between,
)

log = logging.getLogger("onprem.emulator.schema")

VERSION_KEY = "schema_version"
# Rows an upgrade reports as kept (the client's data; nodes and tokens come and go by themselves).
KEPT_TABLES = ("settings", "users", "messages", "media", "callbacks")
_PG_LOCK = 7341007  # the advisory lock that serialises schema work across processes on PostgreSQL

_SETTINGS = "CREATE TABLE IF NOT EXISTS settings (k VARCHAR(191) PRIMARY KEY, v TEXT NOT NULL)"
# Schema 2: the tables before clients named their line in the schema version.
BASE_TABLES = (
    _SETTINGS,
    "CREATE TABLE IF NOT EXISTS users (username VARCHAR(64) PRIMARY KEY, password_hash VARCHAR(255) NOT NULL,"
    " role VARCHAR(16) NOT NULL, must_change INTEGER NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (token_hash CHAR(64) PRIMARY KEY, username VARCHAR(64) NOT NULL,"
    " expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS nodes (node_id VARCHAR(191) PRIMARY KEY, hostname VARCHAR(191) NOT NULL,"
    " kind VARCHAR(16) NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
    " last_seen DOUBLE PRECISION NOT NULL, stopped INTEGER NOT NULL)",
    # Messaging (see msgstore.py): outbound/inbound messages, 24h windows, the callback queue, counters.
    "CREATE TABLE IF NOT EXISTS messages (id VARCHAR(64) PRIMARY KEY, direction VARCHAR(8) NOT NULL,"
    " peer VARCHAR(32) NOT NULL, node VARCHAR(191) NOT NULL, status VARCHAR(16) NOT NULL,"
    " created_at DOUBLE PRECISION NOT NULL, next_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS windows (wa_id VARCHAR(32) PRIMARY KEY, last_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS callbacks (id VARCHAR(64) PRIMARY KEY, node VARCHAR(191) NOT NULL,"
    " kind VARCHAR(32) NOT NULL, payload TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
    " attempts INTEGER NOT NULL, next_at DOUBLE PRECISION NOT NULL, lease_until DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS media (id VARCHAR(64) PRIMARY KEY, mime_type VARCHAR(255) NOT NULL,"
    " sha256 CHAR(64) NOT NULL, size BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (k CHAR(40) PRIMARY KEY, node VARCHAR(191) NOT NULL,"
    " name VARCHAR(64) NOT NULL, labels VARCHAR(255) NOT NULL, value DOUBLE PRECISION NOT NULL)",
    # Multiconnect (see hastore.py): the master lease and the shard map. Every client line has them.
    "CREATE TABLE IF NOT EXISTS master_lease (name VARCHAR(32) PRIMARY KEY, holder VARCHAR(191) NOT NULL,"
    " epoch INTEGER NOT NULL, acquired_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shard_map (shard_id INTEGER PRIMARY KEY,"
    " node_id VARCHAR(191) NOT NULL UNIQUE, epoch INTEGER NOT NULL, assigned_at DOUBLE PRECISION NOT NULL,"
    " renewed_at DOUBLE PRECISION NOT NULL, previous_renewed_at DOUBLE PRECISION NOT NULL)",
)

Change = Callable[[Dialect, Cursor], None]


def _add_column(table: str, column: str, definition: str) -> Change:
    """A change adding `column` to `table` unless it is there already."""

    def change(dialect: Dialect, cur: Cursor) -> None:
        cur.execute(dialect.columns(), (table,))
        if column not in {str(row[0]).lower() for row in cur.fetchall()}:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    return change


def _no_table_change(dialect: Dialect, cur: Cursor) -> None:
    """Nothing in the tables changes; the schema version alone does."""


# What each schema (after the base) changes; `versions.SCHEMAS` says why.
CHANGES: dict[int, Change] = {
    3: _no_table_change,
    4: _add_column("nodes", "client_version", "VARCHAR(32) NOT NULL DEFAULT ''"),
}


@dataclass(frozen=True)
class SchemaReport:
    """What `prepare` found and did: `created` a fresh database, found it `current`, or `upgraded` it
    from `before` through `steps`; `rows` counts the client's data rows afterwards (upgrades only)."""

    action: Literal["created", "current", "upgraded"]
    before: int
    after: int
    steps: tuple[SchemaLevel, ...] = ()
    rows: tuple[tuple[str, int], ...] = ()


@contextlib.contextmanager
def _serialised(dialect: Dialect, cur: Cursor) -> Iterator[None]:
    # Concurrent CREATE TABLE IF NOT EXISTS collides in PostgreSQL's catalog (pg_type), and two
    # upgrades must not interleave: hold a session lock (the connection is in autocommit mode).
    if dialect.engine != "PGSQL":
        yield
        return
    cur.execute(f"SELECT pg_advisory_lock({_PG_LOCK})")
    try:
        yield
    finally:
        cur.execute(f"SELECT pg_advisory_unlock({_PG_LOCK})")


def _stored(dialect: Dialect, cur: Cursor) -> int:
    cur.execute(dialect.sql("SELECT v FROM settings WHERE k = ?"), (VERSION_KEY,))
    rows = cur.fetchall()
    raw = json.loads(rows[0][0]) if rows else None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ClientStateError(f"the database's schema version is unreadable ({raw!r})")
    return raw


def _claim(store: Store, client: ClientVersion) -> tuple[int, bool]:
    """(stored schema, whether this process just claimed a fresh database for `client`'s schema)."""
    dialect = store.dialect

    def work(cur: Cursor) -> tuple[int, bool]:
        with _serialised(dialect, cur):
            cur.execute(_SETTINGS)
            cur.execute(dialect.insert_ignore("settings", ("k", "v")), (VERSION_KEY, str(client.schema)))
            fresh = cur.rowcount == 1
            return _stored(dialect, cur), fresh

    return store.execute(work)


def _row_counts(cur: Cursor) -> tuple[tuple[str, int], ...]:
    counts = []
    for table in KEPT_TABLES:
        cur.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 (constant table names)
        counts.append((table, int(cur.fetchall()[0][0])))
    return tuple(counts)


def _build(
    store: Store, target: int, *, upgrade: bool, admin_password_hash: str, now: float
) -> tuple[int, tuple[SchemaLevel, ...], tuple[tuple[str, int], ...]]:
    """Create what is missing of the stored schema's tables, then (with `upgrade`) step up to `target`.
    Returns (schema before, steps taken, row counts after when it upgraded)."""
    dialect = store.dialect

    def work(cur: Cursor) -> tuple[int, tuple[SchemaLevel, ...], tuple[tuple[str, int], ...]]:
        with _serialised(dialect, cur):
            stored = _stored(dialect, cur)  # again, under the lock: another upgrade may have run
            for statement in BASE_TABLES:
                cur.execute(statement)
            for level in SCHEMAS[1:]:
                if level.number <= stored:
                    CHANGES[level.number](dialect, cur)  # completes a creation or a step cut short
            steps = steps_between(stored, target) if upgrade else ()
            previous = stored
            for level in steps:
                with store.transaction(cur):
                    CHANGES[level.number](dialect, cur)
                    cur.execute(
                        dialect.sql("UPDATE settings SET v = ? WHERE k = ?"), (str(level.number), VERSION_KEY)
                    )
                log.info(
                    "database upgrade: schema %d -> %d (%s): %s",
                    previous,
                    level.number,
                    level.label,
                    level.change,
                )
                previous = level.number
            cur.execute(
                dialect.insert_ignore(
                    "users", ("username", "password_hash", "role", "must_change", "updated_at")
                ),
                (DEFAULT_ADMIN, admin_password_hash, "ADMIN", 1, now),
            )
            return stored, steps, (_row_counts(cur) if steps else ())

    return store.execute(work)


def prepare(
    store: Store, client: ClientVersion, *, upgrade: bool, admin_password_hash: str, now: float
) -> SchemaReport:
    """Make the database fit `client`: create a fresh one at its schema (with the default admin,
    admin/secret, change required), or check the schema found, migrating an older one when `upgrade`.
    Sets `store.schema` to the client's schema. Safe to run from several processes at once.

    Raises SchemaMismatch (a newer schema; an older one without `upgrade`) and ClientStateError.
    """
    target = client.schema
    attempt = 1
    while True:
        try:
            stored, fresh = _claim(store, client)
            check_schema(stored, client, upgrade=upgrade)
            before, steps, rows = _build(
                store, target, upgrade=upgrade, admin_password_hash=admin_password_hash, now=now
            )
        except ClientStateError:
            # A creation race elsewhere (another engine's catalog, a column added meanwhile) is retried.
            if attempt == 3:
                raise
            attempt += 1
            continue
        store.schema = target
        if steps:
            return SchemaReport("upgraded", before, target, steps, rows)
        return SchemaReport("created" if fresh else "current", before, target)


def summary(report: SchemaReport, client: ClientVersion) -> str:
    """One log line for what an upgrade run found or did."""
    level = f"schema {report.after} ({schema_label(report.after)})"
    if report.action == "created":
        return f"database created at {level} for client {client}: nothing to upgrade"
    if report.action == "current":
        return f"database {level} is already current for client {client}: nothing to upgrade"
    kept = ", ".join(f"{count} {table}" for table, count in report.rows)
    return (
        f"database upgraded from schema {report.before} ({schema_label(report.before)}) to {level} "
        f"for client {client}; rows kept: {kept}"
    )
