"""Opening the emulator's database: SQLite, MySQL/MariaDB (PyMySQL) or PostgreSQL (pg8000).

Like the real client, the emulator creates its own database (`{WA_DB_NAME_PREFIX}waent`) on the server,
so the configured user needs CREATE rights. Every connection runs in autocommit mode: each statement is
its own transaction unless the store opens one explicitly (a long-lived MySQL connection would otherwise
read from a stale REPEATABLE READ snapshot). `connect_with_retry` copes with a server that is not up yet.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from onprem.emulator.env import DbEnv, Engine
from onprem.errors import StateError

log = logging.getLogger("onprem.emulator.db")

CONNECT_TIMEOUT = 5.0


class DatabaseUnavailable(StateError):
    """The emulator's database could not be reached or prepared in time. Exit code 6."""


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    rowcount: int

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """The part of a DB-API connection the store uses."""

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines: placeholders, upserts, and which errors mean "reconnect"."""

    engine: Engine
    lost_connection: tuple[type[BaseException], ...] = ()

    def sql(self, text: str) -> str:
        """Rewrite `?` placeholders for the driver (PyMySQL and pg8000 both take `%s`)."""
        return text if self.engine == "SQLITE" else text.replace("?", "%s")

    # Table and column names below come from the store's own constants, never from input (S608).
    def upsert(self, table: str, columns: Sequence[str], key: str) -> str:
        """An INSERT that updates every non-key column when the `key` row exists."""
        values = ", ".join("?" for _ in columns)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"  # noqa: S608
        others = [column for column in columns if column != key]
        if self.engine == "MYSQL":
            return self.sql(
                f"{head} ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in others)
            )
        return self.sql(
            f"{head} ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)
        )

    def insert_ignore(self, table: str, columns: Sequence[str]) -> str:
        """An INSERT that silently keeps the existing row on a key conflict."""
        values = ", ".join("?" for _ in columns)
        if self.engine == "MYSQL":
            return self.sql(f"INSERT IGNORE INTO {table} ({', '.join(columns)}) VALUES ({values})")  # noqa: S608
        return self.sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) ON CONFLICT DO NOTHING"  # noqa: S608
        )

    def columns(self) -> str:
        """A query (one parameter: a table name) whose rows name that table's columns, first field."""
        if self.engine == "SQLITE":
            return "SELECT name FROM pragma_table_info(?)"
        if self.engine == "MYSQL":
            return self.sql(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
            )
        return self.sql(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?"
        )


def open_sqlite(path: Path) -> Connection:
    """Open (creating) a SQLite state file in autocommit + WAL mode, usable from worker threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Password and token hashes live here: create it 0600 (SQLite gives its -wal/-shm files the same mode).
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _mysql(env: DbEnv, *, database: str | None) -> Connection:
    import pymysql
    from pymysql.constants import CLIENT

    conn: Connection = pymysql.connect(
        host=env.hostname,
        port=env.port,
        user=env.username,
        password=env.password,
        database=database,
        autocommit=True,
        charset="utf8mb4",
        connect_timeout=CONNECT_TIMEOUT,
        # rowcount = rows matched, as on SQLite and PostgreSQL: the store's conditional updates read it
        # as "the WHERE held", also when the new values equal the old ones.
        client_flag=CLIENT.FOUND_ROWS,
    )
    return conn


def _pg(env: DbEnv, *, database: str) -> Connection:
    import pg8000.dbapi

    conn = pg8000.dbapi.connect(
        user=env.username,
        password=env.password,
        host=env.hostname,
        port=env.port,
        database=database,
        timeout=CONNECT_TIMEOUT * 2,
    )
    conn.autocommit = True
    result: Connection = conn
    return result


def _create_mysql_database(env: DbEnv) -> None:
    conn = _mysql(env, database=None)
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{env.database}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def _create_pg_database(env: DbEnv) -> None:
    import pg8000.dbapi

    conn = _pg(env, database="postgres")
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (env.database,))
        if cur.fetchall():
            return
        try:
            cur.execute(f'CREATE DATABASE "{env.database}"')
        except pg8000.dbapi.DatabaseError:
            # Web and core start together: the other one may have created it a moment ago.
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (env.database,))
            if not cur.fetchall():
                raise
    finally:
        conn.close()


def dialect_for(env: DbEnv) -> Dialect:
    """The Dialect of the configured engine, with the driver's connection-loss exceptions."""
    if env.engine == "MYSQL":
        import pymysql

        return Dialect("MYSQL", (pymysql.err.OperationalError, pymysql.err.InterfaceError))
    if env.engine == "PGSQL":
        import pg8000.dbapi

        return Dialect("PGSQL", (pg8000.dbapi.InterfaceError, pg8000.dbapi.OperationalError))
    return Dialect("SQLITE")


def server_connector(env: DbEnv, sqlite_path: Path) -> tuple[Callable[[], Connection], Callable[[], None]]:
    """(connect, prepare) for `env`: `prepare` creates the database, `connect` opens a connection to it."""
    if env.engine == "MYSQL":
        return (lambda: _mysql(env, database=env.database)), (lambda: _create_mysql_database(env))
    if env.engine == "PGSQL":
        return (lambda: _pg(env, database=env.database)), (lambda: _create_pg_database(env))
    return (lambda: open_sqlite(sqlite_path)), (lambda: None)


PASSWORD_REFUSALS = 3
"""Refusals of the password in a row that end the wait at once (a server still starting refuses the
connection, not the password)."""


def password_refused(exc: BaseException) -> bool:
    """Whether a driver error says the server refused the credentials (MySQL 1045, PostgreSQL 28P01)."""
    text = str(exc)
    return (
        "1045" in text
        or "Access denied" in text
        or "28P01" in text
        or "password authentication failed" in text
    )


def connect_with_retry(
    prepare: Callable[[], None],
    connect: Callable[[], Connection],
    *,
    what: str,
    wait_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Connection:
    """Prepare the database and connect, retrying with exponential backoff for `wait_seconds`.

    `what` names the database in messages (never with its password).
    Raises DatabaseUnavailable with the last error once the time is up.
    """
    deadline = clock() + wait_seconds
    delay = 0.25
    refused = 0
    while True:
        try:
            prepare()
            return connect()
        except Exception as exc:  # any driver or socket error means "not ready yet"
            reason = f"{exc.__class__.__name__}: {exc}".strip()
            refused = refused + 1 if password_refused(exc) else 0
            if refused >= PASSWORD_REFUSALS:
                raise DatabaseUnavailable(
                    f"database {what} refused the password of WA_DB_USER (access denied): the database "
                    "was initialised with another password (its volume belongs to another deployment, or "
                    "the password changed outside onprem)"
                ) from None
            left = deadline - clock()
            if left <= 0:
                raise DatabaseUnavailable(
                    f"database {what} still unreachable after {wait_seconds:g}s ({reason}); check that it "
                    "is running, that WA_DB_* point at it and that the user may create databases"
                ) from None
            pause = min(delay, left)
            log.warning("database %s not ready (%s); retrying in %.1fs", what, reason, pause)
            sleep(pause)
            delay = min(delay * 2, 5.0)
