"""Database outages as the store sees them: one log line when one starts and one when it ends, and
no caller waiting on a connect while the database is down."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from onprem.emulator.dbconnect import Connection, Dialect, open_sqlite
from onprem.emulator.outage import Reconnector
from onprem.emulator.store import DatabaseUnreachable, Store
from onprem.emulator.testing import FakeClock, sqlite_store


class Database:
    """A connect function whose database can be taken down (refusing, or hanging until released)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.down = False
        self.hang = threading.Event()
        self.hanging = False
        self.connects = 0

    def connect(self) -> Connection:
        self.connects += 1
        if self.hanging:
            self.hang.wait(10)
        if self.down:
            raise ConnectionRefusedError("db down")
        return open_sqlite(self.path)


@pytest.fixture
def database(tmp_path: Path) -> Database:
    sqlite_store(tmp_path / "state.db").close()
    return Database(tmp_path / "state.db")


def store_on(database: Database) -> Store:
    return Store(database.connect, Dialect("SQLITE", lost_connection=(ConnectionRefusedError,)))


def wait_until_up(store: Store) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            store.shards()
            return
        except DatabaseUnreachable:
            time.sleep(0.05)
    raise AssertionError("the store never reconnected")


def test_an_outage_is_logged_once_and_its_end_once(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="onprem.emulator.db")
    store = store_on(database)
    store.shards()
    store.close()  # the next operation connects anew
    database.down = True
    for _ in range(50):
        with pytest.raises(DatabaseUnreachable):
            store.shards()
    database.down = False
    wait_until_up(store)
    store.shards()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unreachable (")
    assert lines[1].startswith("database reconnected after ")


def test_while_down_no_caller_waits_on_a_connect_that_hangs(database: Database) -> None:
    store = store_on(database)
    store.close()
    database.down = True
    with pytest.raises(DatabaseUnreachable):
        store.shards()
    database.hanging = True
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(DatabaseUnreachable):
            store.shards()
    assert time.monotonic() - started < 1.0
    database.down, database.hanging = False, False
    database.hang.set()
    wait_until_up(store)
    assert store.availability.down is False


def test_the_reconnector_tries_one_at_a_time_and_pauses_between_tries() -> None:
    clock = FakeClock()
    made: list[int] = []
    release = threading.Event()

    def connect() -> int:
        release.wait(5)
        made.append(len(made))
        return len(made)

    reconnector: Reconnector[int] = Reconnector(connect, pause=1.0, clock=clock)
    assert reconnector.take() is None  # starts an attempt
    assert reconnector.take() is None  # one runs already: no second one
    release.set()
    deadline = time.monotonic() + 5
    while not made and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert reconnector.take() == 1
    assert reconnector.take() is None  # within the pause: nothing started
    assert len(made) == 1
    clock.advance(1.5)
    assert reconnector.take() is None
    deadline = time.monotonic() + 5
    while len(made) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(made) == 2
