"""Real MariaDB (`onprem/mysql:8.0`) and PostgreSQL (`onprem/postgres:15`) for the emulator, and
helpers to run `onprem emulator web|core` as processes against them.

Each test isolates its state with its own WA_DB_NAME_PREFIX on a database server shared per module.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import require

# Read by testcontainers at import time: no reaper container (none can be pulled), fast polling.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TC_POOLING_INTERVAL", "0.1")

from testcontainers.core.container import DockerContainer

IMAGES = {"MYSQL": "onprem/mysql:8.0", "PGSQL": "onprem/postgres:15"}
INTERNAL_PORT = {"MYSQL": 3306, "PGSQL": 5432}
USER = {"MYSQL": "root", "PGSQL": "postgres"}


@dataclass
class Database:
    """A running database server the emulator can use (as WA_DB_* env)."""

    engine: str
    host: str
    port: int
    password: str = field(repr=False)
    container: DockerContainer

    def env(self, prefix: str) -> dict[str, str]:
        return {
            "WA_DB_ENGINE": self.engine,
            "WA_DB_HOSTNAME": self.host,
            "WA_DB_PORT": str(self.port),
            "WA_DB_USERNAME": USER[self.engine],
            "WA_DB_PASSWORD": self.password,
            "WA_DB_NAME_PREFIX": prefix,
        }


def db_container(
    engine: str, secret_dir: Path, *, host_port: int | None = None
) -> tuple[DockerContainer, str]:
    """A not-yet-started server container of `engine`, its root password in a 0600 secret file."""
    password = "Db-" + secrets.token_urlsafe(12)
    secret = secret_dir / f"{engine.lower()}-root-password"
    secret.touch(mode=0o600)
    secret.write_text(password)
    variable = "MYSQL_ROOT_PASSWORD_FILE" if engine == "MYSQL" else "POSTGRES_PASSWORD_FILE"
    container = (
        DockerContainer(IMAGES[engine])
        .with_name(f"emulator-it-{engine.lower()}-{uuid.uuid4().hex[:8]}")
        .with_env(variable, "/run/secrets/db_root_password")
        .with_volume_mapping(str(secret), "/run/secrets/db_root_password", "ro")
    )
    if host_port is None:
        container = container.with_exposed_ports(INTERNAL_PORT[engine])
    else:
        container = container.with_bind_ports(INTERNAL_PORT[engine], host_port)
    return container, password


def wait_for_server(db: Database, timeout: float = 120.0) -> None:
    """Block until the server accepts a login (first start initialises the data directory)."""
    from onprem.emulator.dbconnect import connect_with_retry, server_connector
    from onprem.emulator.env import parse_env

    env = parse_env(db.env("probe_"))
    connect, prepare = server_connector(env.db, Path("/nonexistent"))
    connect_with_retry(prepare, connect, what=env.db.describe(), wait_seconds=timeout).close()


def image_present(image: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture(scope="module", params=["MYSQL", "PGSQL"])
def database(
    request: pytest.FixtureRequest, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A MariaDB or PostgreSQL server for this module (fails under CI when its image is missing)."""
    engine = str(request.param)
    require(image_present(IMAGES[engine]), f"image {IMAGES[engine]} is missing (make images)")
    container, password = db_container(engine, tmp_path_factory.mktemp("secrets"))
    container.start()
    try:
        db = Database(
            engine,
            "127.0.0.1",
            int(container.get_exposed_port(INTERNAL_PORT[engine])),
            password,
            container,
        )
        wait_for_server(db)
        yield db
    finally:
        container.stop()


@pytest.fixture
def prefix() -> str:
    """A database name prefix no other test uses: the emulator's database is `<prefix>waent`."""
    return f"t{uuid.uuid4().hex[:10]}_"


@dataclass
class Role:
    """An `onprem emulator web|core` child process; its stderr goes to `log`."""

    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Role]]:
    """`spawn(role, env, *args)` starts an emulator role; every one still running is killed at the end."""
    started: list[Role] = []

    def start(role: str, env: dict[str, str], *args: str) -> Role:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "ONPREM_EMULATOR_"))}
        log = tmp_path / f"{role}-{len(started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-c", "from onprem.cli import main; main()", "emulator", role, *args],
                env={**base, **env},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        handle = Role(process, log)
        started.append(handle)
        return handle

    yield start
    for role in started:
        if role.process.poll() is None:
            role.process.kill()
            role.process.wait(timeout=10)


def wait_until(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns a truthy value (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (requests.RequestException, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
