"""The store on SQLite: schema, settings, users, tokens, heartbeats; SQL per dialect; connect retries."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from onprem.emulator.dbconnect import (
    Connection,
    DatabaseUnavailable,
    Dialect,
    connect_with_retry,
    open_sqlite,
)
from onprem.emulator.passwords import hash_password, verify_password
from onprem.emulator.schema import prepare
from onprem.emulator.store import ClientStateError, Registration, Store
from onprem.emulator.testing import FakeClock, sqlite_store
from onprem.emulator.versions import NEWEST_VERSION, ClientVersion


def test_schema_seeds_the_default_admin_who_must_change_password(store: Store) -> None:
    admin = store.get_user("admin")
    assert admin is not None
    assert admin.must_change
    assert admin.role == "ADMIN"
    assert verify_password("secret", admin.password_hash)
    assert "secret" not in admin.password_hash


def test_schema_creation_is_idempotent_and_keeps_a_changed_password(store: Store, clock: FakeClock) -> None:
    store.issue_token(
        "admin", "a" * 64, clock() + 10, new_password_hash=hash_password("Other-1pass"), now=clock()
    )
    prepare(store, ClientVersion.parse(NEWEST_VERSION), upgrade=False, admin_password_hash="x", now=clock())
    admin = store.get_user("admin")
    assert admin is not None
    assert not admin.must_change
    assert verify_password("Other-1pass", admin.password_hash)


def test_settings_hold_json_values(store: Store) -> None:
    assert store.get_setting("missing") is None
    store.put_setting("webhooks", {"url": "https://example.test/hook", "max": 3})
    store.put_setting("webhooks", {"url": "https://example.test/other"})
    assert store.get_setting("webhooks") == {"url": "https://example.test/other"}
    assert store.shards() == 1
    store.put_setting("shards", 4)
    assert store.shards() == 4


def test_registration_defaults_to_unregistered_and_round_trips(store: Store) -> None:
    assert store.registration() == Registration()
    assert not store.registration().registered
    store.set_registration(Registration(state="registered", cc="1", phone_number="6315550000", vname="Acme"))
    assert store.registration().registered
    assert store.registration().vname == "Acme"


def test_tokens_resolve_until_they_expire_or_are_revoked(store: Store, clock: FakeClock) -> None:
    store.issue_token("admin", "1" * 64, clock() + 60, new_password_hash=None, now=clock())
    assert store.token_user("1" * 64, clock()) == "admin"
    assert store.token_user("2" * 64, clock()) is None
    assert store.token_user("1" * 64, clock() + 61) is None
    store.revoke_token("1" * 64)
    assert store.token_user("1" * 64, clock()) is None


def test_password_rotation_revokes_older_tokens(store: Store, clock: FakeClock) -> None:
    store.issue_token("admin", "1" * 64, clock() + 60, new_password_hash=None, now=clock())
    store.issue_token(
        "admin", "2" * 64, clock() + 60, new_password_hash=hash_password("Rot4ted!pw"), now=clock()
    )
    assert store.token_user("1" * 64, clock()) is None
    assert store.token_user("2" * 64, clock()) == "admin"


def test_heartbeats_upsert_and_stop_marks_the_node(store: Store, clock: FakeClock) -> None:
    store.heartbeat("wacore:abc", "wacore", "coreapp", started_at=clock(), now=clock())
    store.heartbeat("wacore:abc", "wacore", "coreapp", started_at=clock(), now=clock() + 5)
    (node,) = store.nodes()
    assert (node.node_id, node.last_seen, node.stopped) == ("wacore:abc", clock() + 5, False)
    store.mark_stopped("wacore:abc", clock() + 6)
    (node,) = store.nodes()
    assert node.stopped
    assert node.last_seen == clock() + 6


def test_state_survives_reopening_the_file(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.sqlite3"
    first = sqlite_store(path, now=clock())
    first.set_registration(Registration(state="registered"))
    first.issue_token(
        "admin", "f" * 64, clock() + 60, new_password_hash=hash_password("Persist3d!"), now=clock()
    )
    first.close()
    second = sqlite_store(path, now=clock())
    assert second.registration().registered
    assert second.token_user("f" * 64, clock()) == "admin"
    admin = second.get_user("admin")
    assert admin is not None
    assert verify_password("Persist3d!", admin.password_hash)
    second.close()


def test_sqlite_state_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "private.sqlite3"
    sqlite_store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_driver_errors_become_store_errors(tmp_path: Path) -> None:
    def broken() -> object:
        raise RuntimeError("no server")

    store = Store(broken, Dialect("SQLITE"))  # type: ignore[arg-type]
    with pytest.raises(ClientStateError, match="no server"):
        store.nodes()


def test_a_lost_connection_is_reopened_once(tmp_path: Path) -> None:
    class Lost(Exception):
        pass

    opened: list[int] = []
    real = open_sqlite(tmp_path / "x.sqlite3")
    real.cursor().execute("CREATE TABLE settings (k VARCHAR(191) PRIMARY KEY, v TEXT NOT NULL)")

    class Flaky:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def cursor(self) -> object:
            if self.fail:
                raise Lost("server closed the connection")
            return real.cursor()

        def close(self) -> None:
            pass

    def connect() -> Flaky:
        opened.append(1)
        return Flaky(fail=len(opened) == 1)

    store = Store(connect, Dialect("SQLITE", (Lost,)))
    assert store.get_setting("k") is None
    assert len(opened) == 2


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("SQLITE", "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"),
        ("PGSQL", "INSERT INTO t (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v"),
        ("MYSQL", "INSERT INTO t (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)"),
    ],
)
def test_upserts_use_each_engines_syntax_and_placeholders(engine: str, expected: str) -> None:
    assert Dialect(engine).upsert("t", ("k", "v"), "k") == expected  # type: ignore[arg-type]


def test_connect_retries_with_backoff_until_the_server_answers(tmp_path: Path) -> None:
    clock = FakeClock(now=0.0)
    pauses: list[float] = []
    attempts: list[int] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock.advance(seconds)

    connection = open_sqlite(tmp_path / "late.sqlite3")

    def connect() -> Connection:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionRefusedError("refused")
        return connection

    result = connect_with_retry(lambda: None, connect, what="db", wait_seconds=30, clock=clock, sleep=sleep)
    assert result is connection
    assert pauses == [0.25, 0.5, 1.0]


def test_connect_gives_up_after_the_wait_with_a_clear_error() -> None:
    clock = FakeClock(now=0.0)

    def prepare() -> None:
        raise ConnectionRefusedError("Connection refused")

    def never() -> Connection:
        raise AssertionError("connect is not reached while prepare fails")

    with pytest.raises(DatabaseUnavailable) as caught:
        connect_with_retry(
            prepare, never, what="MYSQL root@db:3306/waent", wait_seconds=3, clock=clock, sleep=clock.advance
        )
    message = str(caught.value)
    assert "MYSQL root@db:3306/waent" in message
    assert "after 3s" in message
    assert "Connection refused" in message
    assert caught.value.exit_code == 6


def test_a_database_that_refuses_the_password_ends_the_wait_at_once_saying_so() -> None:
    clock = FakeClock(now=0.0)
    tries: list[int] = []

    def prepare() -> None:
        tries.append(1)
        raise RuntimeError("(1045, \"Access denied for user 'root'@'172.18.0.3' (using password: YES)\")")

    with pytest.raises(DatabaseUnavailable, match="refused the password") as caught:
        connect_with_retry(
            prepare,
            lambda: None,
            what="MYSQL root@db:3306",
            wait_seconds=120,
            clock=clock,
            sleep=clock.advance,
        )
    assert len(tries) == 3, "three refusals in a row, not the whole wait"
    assert clock.now < 2
    assert "another password" in str(caught.value)
