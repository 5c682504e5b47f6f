"""`onprem deploy` on the real engine: the default stack on MySQL and PostgreSQL, end to end.

Each test deploys under its own project name and free ports, drives the real CLI in a subprocess, and
takes the stack down (with volumes) at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import free_ports

SERVICES = {"db", "wacore", "waweb", "relay", "exporter"}


@dataclass
class Deployment:
    workdir: Path
    name: str
    web_port: int

    def run(self, *args: str, check: bool = False, timeout: float = 400) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
        done = subprocess.run(
            [sys.executable, "-m", "onprem.cli", *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"onprem {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    @property
    def state(self) -> Path:
        return self.workdir / ".onprem" / self.name

    def secret(self, name: str) -> str:
        return (self.state / "secrets" / name).read_text()


def make_deployment(tmp_path: Path, name: str, extra: str = "") -> Deployment:
    web, relay, exporter, prom = free_ports(4)
    (tmp_path / "onprem.yaml").write_text(
        f"deployment:\n  name: {name}\n  timeout_seconds: 240\n"
        f"network:\n  web_port: {web}\n  relay_port: {relay}\n  exporter_port: {exporter}\n  prometheus_port: {prom}\n"
        + extra
    )
    return Deployment(tmp_path, name, web)


@pytest.fixture(params=["mysql", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path, stack_images: None) -> Iterator[Deployment]:
    dep = make_deployment(tmp_path, f"it-deploy-{request.param}", f"db:\n  engine: {request.param}\n")
    yield dep
    dep.run("down", "--volumes", "--yes")


def project_containers(name: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def test_deploy_brings_every_service_to_healthy_and_the_api_answers(deployment: Deployment) -> None:
    done = deployment.run("deploy", "--json", check=True)
    document: dict[str, Any] = json.loads(done.stdout)
    assert document["healthy"] is True
    assert {s["service"] for s in document["services"]} == SERVICES
    assert all(s["health"] == "healthy" for s in document["services"])
    assert document["api"]["health"] == {"gateway_status": "unregistered"}

    # The API answers over HTTPS, verified against the pinned CA, with the API key.
    api_key = deployment.secret("WA_API_KEY")
    answer = requests.get(
        f"https://127.0.0.1:{deployment.web_port}/v1/health",
        headers={"Authorization": f"Apikey {api_key}"},
        verify=str(deployment.state / "ca.pem"),
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["health"]["gateway_status"] == "unregistered"

    # The admin password was rotated: the factory default is refused, the stored one works.
    url = f"https://127.0.0.1:{deployment.web_port}/v1/users/login"
    ca = str(deployment.state / "ca.pem")
    assert requests.post(url, auth=("admin", "secret"), json={}, verify=ca, timeout=10).status_code == 401
    ok = requests.post(
        url, auth=("admin", deployment.secret("WA_ADMIN_PASSWORD")), json={}, verify=ca, timeout=10
    )
    assert ok.status_code == 200
    assert ok.json()["users"][0]["token"]

    status = deployment.run("status", "--json", check=True)
    assert json.loads(status.stdout)["healthy"] is True

    again = deployment.run("deploy", check=True)
    assert "nothing changed" in again.stdout

    down = deployment.run("down", "--volumes", "--yes", check=True)
    assert "is down" in down.stdout
    assert project_containers(deployment.name) == []


def test_no_generated_secret_leaks_into_compose_inspect_argv_or_logs(deployment: Deployment) -> None:
    deploy = deployment.run("deploy", check=True)
    secrets = [
        deployment.secret(n)
        for n in ("WA_DB_PASSWORD", "WA_API_KEY", "WA_ADMIN_PASSWORD", "RELAY_PATH_TOKEN")
    ]
    compose = (deployment.state / "bundle" / "compose.yaml").read_text()
    ids = project_containers(deployment.name)
    inspect = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    logs = "".join(
        subprocess.run(["docker", "logs", cid], capture_output=True, text=True, check=False).stdout
        + subprocess.run(["docker", "logs", cid], capture_output=True, text=True, check=False).stderr
        for cid in ids
    )
    argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    for value in secrets:
        for where, text in (
            ("compose file", compose),
            ("docker inspect", inspect),
            ("logs", logs),
            ("argv", argv),
            ("deploy output", deploy.stdout + deploy.stderr),
        ):
            assert value not in text, f"a secret appears in {where}"
    for name in ("WA_DB_PASSWORD", "WA_API_KEY", "WA_ADMIN_PASSWORD"):
        assert (deployment.state / "secrets" / name).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ("network:\n  web_prot: 1\n", ":2: network.web_prot: unknown key"),
        (
            "client:\n  mode: multiconnect\n  shards: 3\n",
            ":3: client.shards: must be one of 1, 2, 4, 8, 16, 32",
        ),
        (
            "secrets:\n  db_password:\n    source: env\n    var: IT_DB_PASS\n",
            ":2: secrets.db_password (from env): contains !",
        ),
    ],
)
def test_bad_config_exits_2_naming_file_line_field_and_leaves_docker_untouched(
    tmp_path: Path, docker_engine: None, config: str, field: str
) -> None:
    name = "it-badconfig"
    (tmp_path / "onprem.yaml").write_text(config)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")},
        "IT_DB_PASS": "pa!ss",
        "ONPREM_DEPLOYMENT__NAME": name,
    }
    before = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True).stdout
    networks_before = subprocess.run(
        ["docker", "network", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout
    done = subprocess.run(
        [sys.executable, "-m", "onprem.cli", "deploy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"{tmp_path / 'onprem.yaml'}{field}" in done.stderr
    assert (
        subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True).stdout == before
    )
    assert (
        subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True, check=True).stdout
        == networks_before
    )
    assert not (tmp_path / ".onprem" / name / "bundle").exists()


def test_failed_gate_names_the_service_shows_its_logs_and_exits_non_zero(
    tmp_path: Path, stack_images: None
) -> None:
    # A MySQL image given PostgreSQL's settings: it finds no root password and exits, saying why.
    dep = make_deployment(tmp_path, "it-gatefail", "db:\n  engine: postgres\n  image: onprem/mysql:8.0\n")
    try:
        done = dep.run("deploy", "--set", "deployment.timeout_seconds=60")
        assert done.returncode == 4, done.stderr
        # Named however it is caught: exited, failing its health check, or between two restarts
        # (restart: unless-stopped) with the exit code of its last run.
        assert re.search(
            r"error: service db (is (exited|unhealthy|restarting)|keeps exiting)", done.stderr
        ), done.stderr
        assert "--- last log lines of db ---" in done.stderr
        assert "password" in done.stderr.split("--- last log lines of db ---")[1]
    finally:
        dep.run("down", "--volumes", "--yes")
