"""`onprem emulator web` and `core` as real processes sharing one MariaDB or PostgreSQL database.

Shows: login rotation persists across a web restart; health follows core processes (graceful stop is
seen at once, a killed core after its heartbeat goes stale); multiconnect roles and failover; the
emulator waits for a database that comes up after it.
"""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from onprem.emulator.env import parse_env
from onprem.emulator.runtime import open_store, place
from onprem.emulator.store import Store
from onprem.emulator.testing import register
from tests.conftest import require
from tests.integration.conftest import free_port, free_ports
from tests.integration.emulator.conftest import (
    IMAGES,
    Database,
    Role,
    db_container,
    image_present,
    wait_until,
)

API_KEY = "it-api-key-0123456789"
NEW_PASSWORD = "It-Passw0rd!"


class Web:
    """An HTTPS client for a web process, pinned to the CA the process wrote."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.base = f"https://127.0.0.1:{port}"
        self.ca = data_dir / "certs" / "external" / "ca.pem"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.base + path, verify=str(self.ca), timeout=10, **kwargs)

    def wait_ready(self) -> None:
        wait_until(
            lambda: self.ca.exists() and self.call("GET", "/v1/certificates/external/ca").ok, what="web"
        )

    def login(self, password: str, new_password: str | None = None) -> requests.Response:
        basic = base64.b64encode(f"admin:{password}".encode()).decode()
        body = {"new_password": new_password} if new_password else None
        return self.call("POST", "/v1/users/login", headers={"Authorization": f"Basic {basic}"}, json=body)

    def health(self) -> Any:
        response = self.call("GET", "/v1/health", headers={"Authorization": f"Apikey {API_KEY}"})
        assert response.status_code == 200, response.text
        return response.json()["health"]


def start_web(
    spawn: Callable[..., Role], env: dict[str, str], data_dir: Path, **extra: str
) -> tuple[Role, Web]:
    port = free_port()
    role = spawn(
        "web", {**env, "WA_API_KEY": API_KEY, **extra}, "--port", str(port), "--data-dir", str(data_dir)
    )
    web = Web(port, data_dir)
    try:
        web.wait_ready()
    except AssertionError:
        raise AssertionError(role.output()) from None
    return role, web


def start_core(
    spawn: Callable[..., Role], env: dict[str, str], data_dir: Path, name: str, **extra: str
) -> Role:
    ports = ",".join(str(port) for port in free_ports(4))
    return spawn(
        "core",
        {**env, "HOSTNAME": name, "ONPREM_EMULATOR_CONTAINER_ID": f"{name}-cid", **extra},
        "--ports",
        ports,
        "--data-dir",
        str(data_dir),
    )


def shared_store(database: Database, prefix: str, tmp_path: Path) -> Store:
    """The test-only channel into the emulator's state: the same database, opened directly."""
    env = parse_env(database.env(prefix))
    return open_store(env, place(env, data_dir=str(tmp_path / "probe"), state=None), wait_seconds=30)


def test_login_rotation_survives_a_restart_of_web(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    env = database.env(prefix)
    role, web = start_web(spawn, env, tmp_path, ONPREM_EMULATOR_SUNSET="1")
    store = shared_store(database, prefix, tmp_path)
    assert store.get_setting("sunset") is True  # kept for the registration slice
    store.close()
    first = web.login("secret")
    assert first.status_code == 400
    assert first.json()["errors"][0]["code"] == 1024
    rotated = web.login("secret", NEW_PASSWORD)
    assert rotated.status_code == 200
    token = rotated.json()["users"][0]["token"]
    ca_before = web.ca.read_bytes()
    assert role.stop() == 0

    role, web = start_web(spawn, env, tmp_path)
    assert web.ca.read_bytes() == ca_before
    old = web.login("secret")
    assert (old.status_code, old.content) == (401, b"")
    assert web.login(NEW_PASSWORD).status_code == 200
    assert web.call("GET", "/v1/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    output = role.output()
    for secret in (NEW_PASSWORD, token, API_KEY, env["WA_DB_PASSWORD"]):
        assert secret not in output
    assert role.stop() == 0


def until_core_is_seen(web: Web, core: Role, web_role: Role, what: str) -> None:
    """Wait for the web to report the core up; a timeout shows both processes' logs."""
    try:
        wait_until(lambda: web.health() == {"gateway_status": "unregistered"}, what=what)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n--- core (exit {core.process.poll()}) ---\n{core.output()[-3000:]}"
            f"\n--- web ---\n{web_role.output()[-3000:]}"
        ) from None


def test_health_follows_a_core_process_sharing_the_database(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    env = database.env(prefix)
    web_role, web = start_web(spawn, env, tmp_path)
    assert web.health() == {"gateway_status": "disconnected"}
    core = start_core(spawn, env, tmp_path, "wacore")
    until_core_is_seen(web, core, web_role, "core up")
    assert core.stop() == 0
    assert web.health() == {"gateway_status": "disconnected"}  # a graceful stop is seen at once

    core = start_core(spawn, env, tmp_path, "wacore")
    until_core_is_seen(web, core, web_role, "core back")
    store = shared_store(database, prefix, tmp_path)
    register(store)
    store.close()
    assert web.health() == {"gateway_status": "connected"}
    core.stop(signal.SIGKILL)
    killed = time.monotonic()
    wait_until(lambda: web.health() == {"gateway_status": "disconnected"}, timeout=15, what="stale core")
    assert time.monotonic() - killed >= 2.0  # only once the heartbeat is ~3 s old


def test_multiconnect_roles_and_failover_across_processes(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    env = {**database.env(prefix), "WA_APP_MULTICONNECT": "1"}
    _, web = start_web(spawn, env, tmp_path)
    start_core(spawn, env, tmp_path, "master1", WA_MASTER_NODE="1", COREAPP_HOSTNAME="master1")
    cores = {
        f"wacore{i}:wacore{i}-cid": start_core(
            spawn, env, tmp_path, f"wacore{i}", COREAPP_HOSTNAME=f"wacore{i}"
        )
        for i in (1, 2)
    }
    wait_until(lambda: len(web.health()) == 3, what="three nodes")
    assert {k: v["gateway_status"] for k, v in web.health().items()} == {
        "master1:master1-cid": "unregistered",
        "wacore1:wacore1-cid": "unregistered",
        "wacore2:wacore2-cid": "unregistered",
    }
    store = shared_store(database, prefix, tmp_path)
    register(store)
    store.close()
    owner = {"gateway_status": "connected", "role": "primary_coreapp", "shard": 0, "shards": 1}
    standby = {"gateway_status": "disconnected", "role": "secondary_coreapp"}

    def one_serving_one_standing_by() -> str | None:
        health = web.health()
        roles = sorted(info["role"] for node, info in health.items() if node in cores)
        if health.get("master1:master1-cid") != {"gateway_status": "connected", "role": "primary_master"}:
            return None
        if roles != ["primary_coreapp", "secondary_coreapp"]:
            return None
        serving = next(node for node in cores if health[node]["role"] == "primary_coreapp")
        other = next(node for node in cores if node != serving)
        return serving if (health[serving], health[other]) == (owner, standby) else None

    serving = wait_until(one_serving_one_standing_by, what="one coreapp serving, the other standing by")
    other = next(node for node in cores if node != serving)
    assert cores[serving].stop() == 0
    # A coreapp stopping on purpose frees its shard: the master promotes the standby at its next check.
    health = wait_until(
        lambda: (h := web.health())[other] == owner and h, timeout=20, what="the standby promoted"
    )
    assert health[serving] == {**standby, "heartbeat": "stopped"}


@pytest.mark.parametrize("engine", ["MYSQL", "PGSQL"])
def test_the_emulator_waits_for_a_database_that_starts_after_it(
    engine: str, docker_engine: None, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    require(image_present(IMAGES[engine]), f"image {IMAGES[engine]} is missing (make images)")
    host_port = free_port()
    container, password = db_container(engine, tmp_path, host_port=host_port)
    env = Database(engine, "127.0.0.1", host_port, password, container).env("late_")
    port = free_port()
    role = spawn(
        "web", {**env, "WA_API_KEY": API_KEY}, "--port", str(port), "--data-dir", str(tmp_path / "data")
    )
    wait_until(lambda: "not ready" in role.output(), what="a retry message")
    assert role.process.poll() is None
    container.start()
    try:
        web = Web(port, tmp_path / "data")
        wait_until(
            lambda: web.ca.exists() and web.call("GET", "/v1/users/login").status_code == 405, timeout=120
        )
        assert web.login("secret").json()["errors"][0]["code"] == 1024
        assert role.stop() == 0
    finally:
        container.stop()
