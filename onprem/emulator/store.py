"""The emulator's durable state, shared by its web and core processes through one database.

Tables: `settings` (key -> JSON text: registration state, shard count, sunset flag, application
settings overrides, two-step PIN hashes, webhook CA), `users` (password hashes, never plaintext),
`tokens` (SHA-256 of opaque bearer tokens), `nodes` (one heartbeat row per core process), and the
messaging tables `msgstore.py` works on (`messages`, `windows`, `callbacks`, `counters`) plus `media`.
`schema.py` creates and upgrades them; a store works at the schema it is given (its client's), which
decides the columns it reads and writes.
Times are epoch seconds passed in by the caller, so tests drive them with a fake clock. One
connection, guarded by a lock, is reopened once when the server has dropped it (a database restart);
a server that stays unreachable is DatabaseUnreachable (logged once per outage by `availability`),
other driver errors ClientStateError.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from onprem.emulator.dbconnect import Connection, Cursor, Dialect
from onprem.emulator.outage import Availability, Reconnector
from onprem.emulator.stats import DbRequestStats
from onprem.emulator.versions import NEWEST_SCHEMA, NODE_VERSIONS_SINCE
from onprem.errors import StateError

T = TypeVar("T")

DEFAULT_ADMIN = "admin"


class ClientStateError(StateError):
    """The database failed an operation (unreachable, or an unexpected driver error). Exit code 6."""


class DatabaseUnreachable(ClientStateError):
    """The database could not be reached (down, restarting, or the network to it cut). Exit code 6."""


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    role: str
    must_change: bool


@dataclass(frozen=True)
class Node:
    """A core process as its last heartbeat left it. `node_id` is `<hostname>:<container-id>`."""

    node_id: str
    hostname: str
    kind: str  # "master" or "coreapp"
    started_at: float
    last_seen: float
    stopped: bool
    version: str = ""  # the client version it runs ("" before schema 4, or not recorded)


@dataclass(frozen=True)
class Registration:
    """The number's registration: `state` is "unregistered", "pending" (code sent) or "registered".

    While pending, `code` is the code "sent" by `method`.
    """

    state: str = "unregistered"
    cc: str = ""
    phone_number: str = ""
    vname: str = ""
    code: str = ""
    method: str = ""

    @property
    def registered(self) -> bool:
        return self.state == "registered"

    @property
    def wa_id(self) -> str:
        return self.cc + self.phone_number


class Store:
    """Typed operations on the emulator's tables. Thread-safe; every method may raise ClientStateError.

    `schema` is the schema version the store's tables are at (its client's; `schema.py` checks that
    the database agrees). `db_requests` counts every operation (one `execute`) as succeeded or failed,
    with its duration; `availability` follows outages (and logs their start and end, once each).
    """

    def __init__(
        self, connect: Callable[[], Connection], dialect: Dialect, *, schema: int = NEWEST_SCHEMA
    ) -> None:
        self._connect = connect
        self._dialect = dialect
        self.schema = schema
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self.db_requests = DbRequestStats()
        self.availability = Availability()
        self._reconnector: Reconnector[Connection] = Reconnector(connect)

    @property
    def engine(self) -> str:
        return self._dialect.engine

    def close(self) -> None:
        with self._lock:
            spare = self._reconnector.discard()
            if spare is not None:
                with contextlib.suppress(Exception):
                    spare.close()
            if self._conn is not None:
                conn, self._conn = self._conn, None
                # Closing a dead connection can fail; there is nothing left to release then.
                with contextlib.suppress(Exception):
                    conn.close()

    def _run(self, work: Callable[[Cursor], T]) -> T:
        started = time.perf_counter()
        try:
            result = self._attempt(work)
        except ClientStateError as exc:
            self.db_requests.record(ok=False, duration_us=(time.perf_counter() - started) * 1e6)
            if isinstance(exc, DatabaseUnreachable):
                self.availability.failed(str(exc))
            raise
        self.db_requests.record(ok=True, duration_us=(time.perf_counter() - started) * 1e6)
        self.availability.succeeded()
        return result

    def _attempt(self, work: Callable[[Cursor], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None and self.availability.down:
                        # Down already: never wait on a connect, one is tried in the background.
                        self._conn = self._reconnector.take()
                        if self._conn is None:
                            raise DatabaseUnreachable("database unreachable (reconnecting)")
                    if self._conn is None:
                        self._conn = self._connect()
                    cur = self._conn.cursor()
                    try:
                        return work(cur)
                    finally:
                        cur.close()
                except self._dialect.lost_connection as exc:
                    self._conn = None
                    if attempt == 2:
                        lost = f"database connection lost: {exc.__class__.__name__}: {exc}".strip()
                        raise DatabaseUnreachable(lost) from None
                except ClientStateError:
                    raise
                except Exception as exc:
                    raise ClientStateError(f"database error: {exc.__class__.__name__}: {exc}") from None
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self, cur: Cursor) -> Iterator[Cursor]:
        cur.execute("BEGIN")
        try:
            yield cur
        except BaseException:
            # The connection may be what failed; the first error is the one worth raising.
            with contextlib.suppress(Exception):
                cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def execute(self, work: Callable[[Cursor], T]) -> T:
        """Run `work(cursor)` under the store's lock, reconnecting once (for the other store modules)."""
        return self._run(work)

    def transaction(self, cur: Cursor) -> contextlib.AbstractContextManager[Cursor]:
        """BEGIN/COMMIT around a block (ROLLBACK on error), on a cursor from `execute`."""
        return self._transaction(cur)

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def _q(self, text: str) -> str:
        return self._dialect.sql(text)

    # -- settings -------------------------------------------------------------------------------

    def get_setting(self, key: str) -> Any:
        """The JSON value stored under `key`, or None."""

        def work(cur: Cursor) -> Any:
            cur.execute(self._q("SELECT v FROM settings WHERE k = ?"), (key,))
            rows = cur.fetchall()
            return json.loads(rows[0][0]) if rows else None

        return self._run(work)

    def put_setting(self, key: str, value: Any) -> None:
        """Store `value` (JSON-serialisable) under `key`, replacing any previous value."""
        text = json.dumps(value, sort_keys=True)
        self._run(lambda cur: cur.execute(self._dialect.upsert("settings", ("k", "v"), "k"), (key, text)))

    def delete_setting(self, key: str) -> None:
        """Forget the value stored under `key` (nothing happens when there is none)."""
        self._run(lambda cur: cur.execute(self._q("DELETE FROM settings WHERE k = ?"), (key,)))

    def registration(self) -> Registration:
        raw = self.get_setting("registration")
        if not isinstance(raw, dict):
            return Registration()
        fields = {k: str(v) for k, v in raw.items() if k in Registration.__dataclass_fields__}
        return Registration(**fields)

    def set_registration(self, registration: Registration) -> None:
        self.put_setting("registration", registration.__dict__)

    def shards(self) -> int:
        """The configured shard count (multiconnect), 1 by default."""
        raw = self.get_setting("shards")
        return raw if isinstance(raw, int) and raw > 0 else 1

    # -- users and tokens -----------------------------------------------------------------------

    def get_user(self, username: str) -> User | None:
        def work(cur: Cursor) -> User | None:
            cur.execute(
                self._q("SELECT username, password_hash, role, must_change FROM users WHERE username = ?"),
                (username,),
            )
            rows = cur.fetchall()
            if not rows:
                return None
            name, hashed, role, must_change = rows[0]
            return User(str(name), str(hashed), str(role), bool(must_change))

        return self._run(work)

    def create_user(self, username: str, password_hash: str, *, now: float) -> bool:
        """Add a USER-role user; False (nothing changed) when the name is taken."""

        def work(cur: Cursor) -> bool:
            cur.execute(
                self._dialect.insert_ignore(
                    "users", ("username", "password_hash", "role", "must_change", "updated_at")
                ),
                (username, password_hash, "USER", 0, now),
            )
            return bool(cur.rowcount == 1)

        return self._run(work)

    def set_password(self, username: str, password_hash: str, *, now: float) -> bool:
        """Replace a user's password and revoke its tokens; False when there is no such user."""

        def work(cur: Cursor) -> bool:
            with self._transaction(cur):
                cur.execute(
                    self._q(
                        "UPDATE users SET password_hash = ?, must_change = 0, updated_at = ?"
                        " WHERE username = ?"
                    ),
                    (password_hash, now, username),
                )
                found = cur.rowcount == 1
                cur.execute(self._q("DELETE FROM tokens WHERE username = ?"), (username,))
            return found

        return self._run(work)

    def delete_user(self, username: str) -> bool:
        """Remove a user and its tokens; False when there is no such user."""

        def work(cur: Cursor) -> bool:
            with self._transaction(cur):
                cur.execute(self._q("DELETE FROM tokens WHERE username = ?"), (username,))
                cur.execute(self._q("DELETE FROM users WHERE username = ?"), (username,))
                return bool(cur.rowcount == 1)

        return self._run(work)

    def issue_token(
        self, username: str, token_hash: str, expires_at: float, *, new_password_hash: str | None, now: float
    ) -> None:
        """Record a token for `username`; with `new_password_hash` also rotate the password (atomically),
        which clears the change-required flag and revokes the user's older tokens."""

        def work(cur: Cursor) -> None:
            with self._transaction(cur):
                if new_password_hash is not None:
                    cur.execute(
                        self._q(
                            "UPDATE users SET password_hash = ?, must_change = 0, updated_at = ?"
                            " WHERE username = ?"
                        ),
                        (new_password_hash, now, username),
                    )
                    cur.execute(self._q("DELETE FROM tokens WHERE username = ?"), (username,))
                cur.execute(self._q("DELETE FROM tokens WHERE expires_at <= ?"), (now,))
                cur.execute(
                    self._q("INSERT INTO tokens (token_hash, username, expires_at) VALUES (?, ?, ?)"),
                    (token_hash, username, expires_at),
                )

        self._run(work)

    def token_user(self, token_hash: str, now: float) -> str | None:
        """The user owning an unexpired token, or None."""

        def work(cur: Cursor) -> str | None:
            cur.execute(
                self._q("SELECT username FROM tokens WHERE token_hash = ? AND expires_at > ?"),
                (token_hash, now),
            )
            rows = cur.fetchall()
            return str(rows[0][0]) if rows else None

        return self._run(work)

    def revoke_token(self, token_hash: str) -> None:
        self._run(lambda cur: cur.execute(self._q("DELETE FROM tokens WHERE token_hash = ?"), (token_hash,)))

    # -- core nodes -----------------------------------------------------------------------------

    def heartbeat(
        self, node_id: str, hostname: str, kind: str, *, started_at: float, now: float, version: str = ""
    ) -> None:
        """Record that core node `node_id` (running client `version`) is alive at `now`."""
        columns: tuple[str, ...] = ("node_id", "hostname", "kind", "started_at", "last_seen", "stopped")
        values: tuple[object, ...] = (node_id, hostname, kind, started_at, now, 0)
        if self.schema >= NODE_VERSIONS_SINCE:
            columns, values = (*columns, "client_version"), (*values, version)
        sql = self._dialect.upsert("nodes", columns, "node_id")
        self._run(lambda cur: cur.execute(sql, values))

    def mark_stopped(self, node_id: str, now: float) -> None:
        """Record that core node `node_id` stopped on purpose: it is down from now on."""
        self._run(
            lambda cur: cur.execute(
                self._q("UPDATE nodes SET stopped = 1, last_seen = ? WHERE node_id = ?"), (now, node_id)
            )
        )

    def forget_replaced(self, node_id: str, hostname: str, *, silent_since: float) -> list[str]:
        """Delete the rows of other containers of `hostname` (the same service, recreated) that stopped
        or have not heart-beaten since `silent_since`; returns their node ids."""

        def work(cur: Cursor) -> list[str]:
            condition = " WHERE hostname = ? AND node_id <> ? AND (stopped = 1 OR last_seen < ?)"
            params = (hostname, node_id, silent_since)
            cur.execute(self._q("SELECT node_id FROM nodes" + condition), params)  # noqa: S608
            gone = [str(row[0]) for row in cur.fetchall()]
            if gone:
                cur.execute(self._q("DELETE FROM nodes" + condition), params)  # noqa: S608
            return gone

        return self._run(work)

    def nodes(self) -> list[Node]:
        columns = "node_id, hostname, kind, started_at, last_seen, stopped"
        if self.schema >= NODE_VERSIONS_SINCE:
            columns += ", client_version"

        def work(cur: Cursor) -> list[Node]:
            cur.execute(f"SELECT {columns} FROM nodes")  # noqa: S608 (constant column names)
            return [
                Node(str(n), str(h), str(k), float(s), float(seen), bool(stopped), str(v[0]) if v else "")
                for n, h, k, s, seen, stopped, *v in cur.fetchall()
            ]

        return self._run(work)
