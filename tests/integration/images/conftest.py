"""Docker helpers for the image tests: containers, networks and volumes named `imgtest-*`, removed after."""

from __future__ import annotations

import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require

PROJECT_IMAGE = "onprem/onprem:0.1.0"
MYSQL_IMAGE = "onprem/mysql:8.0"
POSTGRES_IMAGE = "onprem/postgres:15"
PROMETHEUS_IMAGE = "onprem/prometheus:2.42"
CORE_IMAGE = "onprem-emulator/coreapp:v2.57.2"
WEB_IMAGE = "onprem-emulator/web:v2.57.2"


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; with check, a failure raises AssertionError carrying its stderr."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def need_image(image: str) -> None:
    """Skip (fail under CI) when `make images` has not built IMAGE."""
    present = docker("image", "inspect", image, check=False).returncode == 0
    require(present, f"image {image} is missing (make images)")


@dataclass
class Sandbox:
    """One test's Docker resources: a user-defined network, volumes, containers, all `imgtest-<id>-*`."""

    workdir: Path
    prefix: str = field(default_factory=lambda: f"imgtest-{uuid.uuid4().hex[:8]}")
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    network: str = ""

    def __post_init__(self) -> None:
        self.network = f"{self.prefix}-net"
        docker("network", "create", self.network)

    def password_file(self) -> tuple[str, Path]:
        """A fresh password with SQL-hostile characters, in a 0600 file ending in a newline (stripped)."""
        password = f"{secrets.token_urlsafe(12)}'\"\\$`; -"
        path = self.workdir / f"{self.prefix}-password"
        path.touch(mode=0o600)
        path.write_text(password + "\n")
        return password, path

    def volume(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        docker("volume", "create", name)
        self.volumes.append(name)
        return name

    def start(self, role: str, *args: str) -> str:
        """`docker run -d` on the sandbox network; the container's name is also its DNS name there."""
        name = f"{self.prefix}-{role}"
        docker("run", "-d", "--name", name, "--network", self.network, *args)
        self.containers.append(name)
        return name

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A throwaway container on the sandbox network (not checked: callers assert on the result)."""
        return docker("run", "--rm", "--network", self.network, *args, check=False, timeout=timeout)

    def restart(self, container: str) -> None:
        docker("restart", "-t", "20", container)

    def wait_ready(self, container: str, probe: list[str], timeout: float = 60) -> None:
        """Poll `docker exec CONTAINER PROBE` until it succeeds; fail with the logs if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if docker("exec", container, *probe, check=False).returncode == 0:
                return
            status = docker("inspect", "-f", "{{.State.Status}}", container, check=False).stdout.strip()
            if status in ("exited", "dead"):
                break
            time.sleep(0.3)
        logs = docker("logs", "--tail", "40", container, check=False)
        pytest.fail(f"{container} not ready after {timeout}s: {logs.stdout}{logs.stderr}")

    def close(self) -> None:
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes:
            docker("volume", "rm", "-f", name, check=False)
        docker("network", "rm", self.network, check=False)


@pytest.fixture
def sandbox(docker_engine: None, tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    try:
        yield box
    finally:
        box.close()


def assert_secret_hidden(container: str, password: str) -> None:
    """PASSWORD is in neither `docker inspect` nor any process's argv inside CONTAINER."""
    inspected = docker("inspect", container).stdout
    assert password not in inspected, "the password shows in docker inspect"
    argv = docker("exec", container, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    assert argv.strip(), "no process argv read from the container"
    assert password not in argv, "the password is in a process's argv"


def listen_addresses(container: str) -> set[str]:
    """The addresses of the TCP sockets listening inside CONTAINER, from /proc/net/tcp{,6} (hex, as the
    kernel writes them: 0100007F is 127.0.0.1, 00000000 the IPv4 wildcard)."""
    script = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {print $2}'"
    lines = docker("exec", container, "sh", "-c", script).stdout.split()
    assert lines, f"nothing listens in {container}"
    return {line.rsplit(":", 1)[0] for line in lines}


WILDCARDS = {"00000000", "00000000000000000000000000000000"}
"""The IPv4 and IPv6 wildcard addresses as /proc/net/tcp{,6} spell them."""
