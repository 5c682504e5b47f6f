"""A database on the Docker host itself (`db.external.host: host-gateway`) with a pinned stack subnet, so
that the database's grants can name it: the client reaches it and the deployment is healthy."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.integration.changes.conftest import Stack
from tests.integration.conftest import free_ports

SUBNET = "172.30.57.0/24"


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)


def bridge_address() -> str:
    """The Docker host's address on its default bridge: where `host-gateway` points containers."""
    done = docker("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_database_on_the_docker_host_is_reached_through_host_gateway_from_a_pinned_subnet(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "db.pw").write_text("HostDbPassw0rd4Test\n")
    (tmp_path / "db.pw").chmod(0o600)
    port = free_ports(1)[0]
    name = f"{stack.name}-hostdb"
    started = docker(
        "run", "-d", "--name", name, "-p", f"{bridge_address()}:{port}:3306",
        "-v", f"{tmp_path / 'db.pw'}:/run/secrets/pw:ro", "-e", "MYSQL_ROOT_PASSWORD_FILE=/run/secrets/pw",
        "onprem/mysql:8.0",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        for _ in range(120):
            ping = docker("exec", name, "mysqladmin", "ping", "-h", "127.0.0.1", "--silent")
            if ping.returncode == 0:
                break
            time.sleep(0.5)
        stack.write_config(
            extra=(
                f"  subnet: {SUBNET}\n"  # continues the network section CONFIG ends with
                f"secrets:\n  db_password:\n    source: file\n    path: {tmp_path / 'db.pw'}\n"
            )
        )
        config = stack.workdir / "onprem.yaml"
        text = config.read_text().replace(
            "db:\n  engine: mysql\n",
            f"db:\n  engine: external\n  external:\n    host: host-gateway\n    port: {port}\n",
        )
        config.write_text(text)
        done = stack.ok("deploy")
        assert done["healthy"] is True
        subnet = docker(
            "network", "inspect", f"{stack.name}_net", "--format", "{{(index .IPAM.Config 0).Subnet}}"
        ).stdout.strip()
        assert subnet == SUBNET
        env = docker("exec", f"{stack.name}-wacore-1", "cat", "/proc/1/environ").stdout
        assert "WA_DB_HOSTNAME=host.docker.internal" in env.replace("\x00", "\n")
    finally:
        docker("rm", "-f", name)
