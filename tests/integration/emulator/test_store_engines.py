"""The emulator's store on real MariaDB and PostgreSQL: database creation, persistence, races, reconnects."""

from __future__ import annotations

import threading
from pathlib import Path

from onprem.emulator.dbconnect import server_connector
from onprem.emulator.env import parse_env
from onprem.emulator.passwords import hash_password, verify_password
from onprem.emulator.runtime import open_store, place
from onprem.emulator.store import Registration, Store
from tests.integration.emulator.conftest import Database


def store_for(database: Database, prefix: str, tmp_path: Path) -> Store:
    env = parse_env(database.env(prefix))
    return open_store(env, place(env, data_dir=str(tmp_path), state=None), wait_seconds=30)


def server_databases(database: Database) -> set[str]:
    env = parse_env(database.env("probe_"))
    connect, _ = server_connector(env.db, Path("/nonexistent"))
    if database.engine == "MYSQL":
        conn = connect()
        sql = "SHOW DATABASES"
    else:
        import pg8000.dbapi

        conn = pg8000.dbapi.connect(
            user="postgres",
            password=database.password,
            host=database.host,
            port=database.port,
            database="postgres",
        )
        sql = "SELECT datname FROM pg_database"
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return {str(row[0]) for row in cur.fetchall()}
    finally:
        conn.close()


def test_the_emulator_creates_its_prefixed_database_and_tables(
    database: Database, prefix: str, tmp_path: Path
) -> None:
    store = store_for(database, prefix, tmp_path)
    try:
        assert f"{prefix}waent" in server_databases(database)
        admin = store.get_user("admin")
        assert admin is not None
        assert admin.must_change
        assert store.engine == database.engine
    finally:
        store.close()


def test_state_survives_reopening_the_database(database: Database, prefix: str, tmp_path: Path) -> None:
    first = store_for(database, prefix, tmp_path)
    first.set_registration(Registration(state="registered", cc="1", phone_number="6315550000"))
    first.put_setting("shards", 2)
    first.issue_token("admin", "a" * 64, 2e9, new_password_hash=hash_password("Rot4ted!pw"), now=1e9)
    first.heartbeat("wacore:0123456789ab", "wacore", "coreapp", started_at=1e9, now=1e9 + 1)
    first.close()

    second = store_for(database, prefix, tmp_path)
    try:
        assert second.registration().registered
        assert second.shards() == 2
        assert second.token_user("a" * 64, 1e9) == "admin"
        admin = second.get_user("admin")
        assert admin is not None
        assert not admin.must_change
        assert verify_password("Rot4ted!pw", admin.password_hash)
        (node,) = second.nodes()
        assert (node.node_id, node.last_seen) == ("wacore:0123456789ab", 1e9 + 1)
    finally:
        second.close()


def test_web_and_core_preparing_the_database_at_once_both_succeed(
    database: Database, prefix: str, tmp_path: Path
) -> None:
    opened: list[Store] = []
    failures: list[BaseException] = []

    def open_one(index: int) -> None:
        try:
            opened.append(store_for(database, prefix, tmp_path / str(index)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert failures == []
        assert len(opened) == 4
        assert len({store.get_user("admin") for store in opened}) == 1
    finally:
        for store in opened:
            store.close()


def test_a_connection_killed_by_the_server_is_reopened(
    database: Database, prefix: str, tmp_path: Path
) -> None:
    store = store_for(database, prefix, tmp_path)
    killer = store_for(database, prefix, tmp_path / "killer")
    try:
        store.put_setting("before", 1)
        # The server ends the store's session, as a database restart or idle timeout would.
        if database.engine == "MYSQL":
            pid = store._run(lambda cur: (cur.execute("SELECT CONNECTION_ID()"), cur.fetchall())[1][0][0])
            killer._run(lambda cur: cur.execute(f"KILL {int(pid)}"))
        else:
            pid = store._run(lambda cur: (cur.execute("SELECT pg_backend_pid()"), cur.fetchall())[1][0][0])
            killer._run(lambda cur: cur.execute(f"SELECT pg_terminate_backend({int(pid)})"))
        assert store.get_setting("before") == 1
    finally:
        store.close()
        killer.close()
