"""Integration fixtures: a real Docker engine with the project's images, unique ports per test."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

IMAGES = (
    "onprem/onprem:0.1.0",
    "onprem-emulator/coreapp:v2.57.2",
    "onprem-emulator/web:v2.57.2",
    "onprem-emulator/coreapp:v2.53.2",
    "onprem-emulator/web:v2.53.2",
    "onprem-emulator/cloudapi:0.1.0",
    "onprem/mysql:8.0",
    "onprem/postgres:15",
    "onprem/prometheus:2.42",
    "onprem/redis:7",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine that answers, with Compose v2 (`make engine` starts one)."""
    require(shutil.which("docker") is not None, "the docker CLI is not installed (make engine)")
    done = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    require(done.returncode == 0, "no Docker engine answers (make engine)")
    done = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False, timeout=30)
    require(done.returncode == 0, "Docker Compose v2 is missing (make engine)")


@pytest.fixture(scope="session")
def stack_images(docker_engine: None) -> None:
    """The images `make images` builds."""
    missing = [
        image
        for image in IMAGES
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode
        != 0
    ]
    require(not missing, f"images missing: {', '.join(missing)} (make images)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all held open while choosing, so none repeats)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@pytest.fixture
def onprem_bin() -> Path:
    return ROOT / ".venv" / "bin" / "onprem"
