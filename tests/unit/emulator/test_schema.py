"""The schema on SQLite: created at the client's version, refused when older or newer, upgraded in place
keeping every row, and the same rules through `onprem emulator core|web`."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from onprem.cli import main
from onprem.emulator.dbconnect import Dialect, open_sqlite
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.schema import BASE_TABLES, prepare, summary
from onprem.emulator.store import ClientStateError, Registration, Store
from onprem.emulator.testing import FakeClock, core_heartbeat, sqlite_store
from onprem.emulator.versions import ClientVersion, SchemaMismatch

OLD, NEW = "v2.53.2", "v2.57.2"


def schema_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT v FROM settings WHERE k = 'schema_version'").fetchone()[0])
    finally:
        conn.close()


def node_columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {str(row[1]) for row in conn.execute("PRAGMA table_info(nodes)")}
    finally:
        conn.close()


def old_client_data(path: Path, clock: FakeClock) -> None:
    """A v2.53.2 database holding a registration, settings, a user, a message, media and a node."""
    store = sqlite_store(path, version=OLD, now=clock())
    store.set_registration(Registration("registered", "1", "6315550000", "Acme"))
    store.put_setting("shards", 2)
    store.create_user("ops", "hash", now=clock())
    MessagingStore(store).add_outbound("gBEGmsg1", "16315551234", "wacore:cid", rejected=False, now=clock())
    store.execute(
        lambda cur: cur.execute(
            "INSERT INTO media (id, mime_type, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)",
            ("media-1", "image/png", "0" * 64, 3, clock()),
        )
    )
    core_heartbeat(store, "wacore", now=clock())
    store.close()


def test_a_fresh_database_is_created_at_the_running_versions_schema(tmp_path: Path) -> None:
    sqlite_store(tmp_path / "old.sqlite3", version=OLD).close()
    sqlite_store(tmp_path / "new.sqlite3", version=NEW).close()
    assert schema_of(tmp_path / "old.sqlite3") == 3
    assert "client_version" not in node_columns(tmp_path / "old.sqlite3")
    assert schema_of(tmp_path / "new.sqlite3") == 4
    assert "client_version" in node_columns(tmp_path / "new.sqlite3")


def test_a_newer_client_refuses_an_older_schema_and_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "waent.sqlite3"
    old_client_data(path, clock)
    with pytest.raises(SchemaMismatch, match=r"database schema 3 \(v2\.53\) is older than this client"):
        sqlite_store(path, version=NEW)
    assert schema_of(path) == 3
    assert "client_version" not in node_columns(path)


def test_the_upgrade_migrates_keeps_every_row_and_the_newer_code_uses_the_new_column(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "waent.sqlite3"
    old_client_data(path, clock)
    store = Store(lambda: open_sqlite(path), Dialect("SQLITE"), schema=3)
    report = prepare(store, ClientVersion.parse(NEW), upgrade=True, admin_password_hash="x", now=clock())
    assert (report.action, report.before, report.after) == ("upgraded", 3, 4)
    assert [level.number for level in report.steps] == [4]
    assert dict(report.rows) == {"settings": 3, "users": 2, "messages": 1, "media": 1, "callbacks": 0}
    assert store.schema == 4
    assert summary(report, ClientVersion.parse(NEW)) == (
        "database upgraded from schema 3 (v2.53) to schema 4 (v2.57) for client v2.57.2; "
        "rows kept: 3 settings, 2 users, 1 messages, 1 media, 0 callbacks"
    )
    store.close()
    assert schema_of(path) == 4

    new = sqlite_store(path, version=NEW)
    assert new.registration() == Registration("registered", "1", "6315550000", "Acme")
    assert new.shards() == 2
    assert new.get_user("ops") is not None
    assert MessagingStore(new).message_counts() == {("out", "accepted"): 1}
    (node,) = new.nodes()
    assert node.version == ""  # written by the old core, before the column existed
    new.heartbeat(node.node_id, "wacore", "coreapp", started_at=clock(), now=clock(), version=NEW)
    assert [n.version for n in new.nodes()] == [NEW]
    new.close()


def test_a_second_upgrade_is_a_no_op_and_an_upgrade_of_nothing_creates(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "waent.sqlite3"
    old_client_data(path, clock)
    client = ClientVersion.parse(NEW)
    first = Store(lambda: open_sqlite(path), Dialect("SQLITE"))
    assert prepare(first, client, upgrade=True, admin_password_hash="x", now=clock()).action == "upgraded"
    report = prepare(first, client, upgrade=True, admin_password_hash="x", now=clock())
    assert (report.action, report.before, report.after, report.steps) == ("current", 4, 4, ())
    assert summary(report, client) == (
        "database schema 4 (v2.57) is already current for client v2.57.2: nothing to upgrade"
    )
    first.close()
    empty = Store(lambda: open_sqlite(tmp_path / "empty.sqlite3"), Dialect("SQLITE"))
    created = prepare(empty, client, upgrade=True, admin_password_hash="x", now=clock())
    assert (
        summary(created, client)
        == "database created at schema 4 (v2.57) for client v2.57.2: nothing to upgrade"
    )
    assert empty.get_user("admin") is not None
    empty.close()


@pytest.mark.parametrize("upgrade", [False, True])
def test_an_older_client_refuses_a_newer_schema(tmp_path: Path, upgrade: bool) -> None:
    path = tmp_path / "waent.sqlite3"
    sqlite_store(path, version=NEW).close()
    with pytest.raises(
        SchemaMismatch, match=r"database schema 4 \(v2\.57\) is newer than this client \(v2\.53\.2"
    ):
        sqlite_store(path, version=OLD, upgrade=upgrade)
    assert schema_of(path) == 4


def test_a_database_from_before_client_versions_upgrades_through_every_step(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "waent.sqlite3"
    conn = open_sqlite(path)
    for statement in BASE_TABLES:
        conn.cursor().execute(statement)
    conn.cursor().execute("INSERT INTO settings (k, v) VALUES ('schema_version', '2')")
    conn.close()
    with pytest.raises(SchemaMismatch, match=r"database schema 2 \(before v2\.53\) is older"):
        sqlite_store(path, version=OLD)
    store = Store(lambda: open_sqlite(path), Dialect("SQLITE"))
    report = prepare(store, ClientVersion.parse(NEW), upgrade=True, admin_password_hash="x", now=clock())
    assert [level.number for level in report.steps] == [3, 4]
    store.close()
    assert schema_of(path) == 4


def test_an_upgrade_cut_short_after_its_change_completes_on_the_next_run(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "waent.sqlite3"
    sqlite_store(path, version=OLD).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "ALTER TABLE nodes ADD COLUMN client_version VARCHAR(32) NOT NULL DEFAULT ''"
    )  # as MySQL would
    conn.commit()
    conn.close()
    sqlite_store(path, version=NEW, upgrade=True).close()
    assert schema_of(path) == 4


def test_an_unreadable_schema_version_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "waent.sqlite3"
    sqlite_store(path, version=NEW).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE settings SET v = '\"four\"' WHERE k = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ClientStateError, match="schema version is unreadable"):
        sqlite_store(path, version=NEW)


# -- through the command line ---------------------------------------------------------------------


def run_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, role: str, version: str, *, upgrade: bool = False
) -> int:
    for name in ("WA_DB_ENGINE", "ONPREM_EMULATOR_SQLITE", "ONPREM_EMULATOR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONPREM_EMULATOR_VERSION", version)
    monkeypatch.setenv("WA_DB_UPGRADE", "1" if upgrade else "0")
    argv = ["emulator", role, "--state", str(tmp_path / "waent.sqlite3"), "--data-dir", str(tmp_path)]
    # Should a refusal not happen, the role would fail to listen rather than serve for ever.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(SystemExit) as caught:
            main([*argv, "--port", port] if role == "web" else [*argv, "--ports", ",".join([port] * 4)])
    return int(caught.value.code or 0)


@pytest.mark.parametrize("role", ["core", "web"])
def test_a_newer_core_or_web_on_an_older_schema_exits_6_with_one_clear_line(
    role: str,
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old_client_data(tmp_path / "waent.sqlite3", clock)
    capsys.readouterr()
    assert run_cli(monkeypatch, tmp_path, role, NEW) == 6
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: database schema 3 (v2.53) is older than this client (v2.57.2, schema 4): "
        "run the upgrade (a one-shot coreapp with WA_DB_UPGRADE=1)"
    )


def test_core_with_wa_db_upgrade_migrates_and_exits_0_then_the_old_core_refuses(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    old_client_data(tmp_path / "waent.sqlite3", clock)
    caplog.set_level("INFO", logger="onprem.emulator")
    assert run_cli(monkeypatch, tmp_path, "core", NEW, upgrade=True) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert "database upgrade for client v2.57.2 (WA_DB_UPGRADE=1)" in messages
    assert (
        "database upgrade: schema 3 -> 4 (v2.57): nodes.client_version: the client version each core node runs"
    ) in messages
    assert messages[-1].startswith("database upgraded from schema 3 (v2.53) to schema 4 (v2.57)")
    assert not any("core listening" in message for message in messages)  # it did not serve
    assert schema_of(tmp_path / "waent.sqlite3") == 4

    caplog.clear()
    assert run_cli(monkeypatch, tmp_path, "core", NEW, upgrade=True) == 0  # again: nothing to do
    assert (
        caplog.records[-1].getMessage().endswith("is already current for client v2.57.2: nothing to upgrade")
    )

    capsys.readouterr()
    assert run_cli(monkeypatch, tmp_path, "core", OLD) == 6
    assert (
        "database schema 4 (v2.57) is newer than this client (v2.53.2, schema 3)" in capsys.readouterr().err
    )


def test_web_refuses_the_upgrade_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli(monkeypatch, tmp_path, "web", NEW, upgrade=True) == 2
    assert not (tmp_path / "waent.sqlite3").exists()
