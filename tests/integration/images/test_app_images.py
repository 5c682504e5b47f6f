"""The project image runs the CLI; the emulator images carry Meta's entry points; the Prometheus image
answers /-/ready and ships promtool."""

from __future__ import annotations

import time

import pytest

from tests.integration.images.conftest import (
    CORE_IMAGE,
    PROJECT_IMAGE,
    PROMETHEUS_IMAGE,
    WEB_IMAGE,
    WILDCARDS,
    Sandbox,
    docker,
    listen_addresses,
    need_image,
)

pytestmark = pytest.mark.integration

BIN = "/opt/whatsapp/bin"


def test_project_image_runs_the_cli_and_has_curl_for_healthchecks(docker_engine: None) -> None:
    need_image(PROJECT_IMAGE)
    done = docker("run", "--rm", PROJECT_IMAGE, "sh", "-c", "onprem --version && curl --version")
    assert "0.1.0" in done.stdout.splitlines()[0]
    assert done.stdout.splitlines()[1].startswith("curl ")


@pytest.mark.parametrize(("image", "role"), [(CORE_IMAGE, "core"), (WEB_IMAGE, "web")])
def test_emulator_image_launches_its_role_on_all_interfaces(
    docker_engine: None, image: str, role: str
) -> None:
    need_image(image)
    # A stand-in `onprem` first on PATH shows the exact command the launch script execs.
    script = (
        "mkdir -p /tmp/fake && printf '#!/bin/sh\\necho \"$@\"\\n' >/tmp/fake/onprem && chmod +x /tmp/fake/onprem"
        f" && PATH=/tmp/fake:$PATH {BIN}/launch_within_docker.sh"
    )
    done = docker("run", "--rm", image, "sh", "-c", script)
    assert done.stdout.strip() == f"emulator {role} --host container"


def test_wait_on_scripts_exec_the_command_when_the_database_accepts_connections(sandbox: Sandbox) -> None:
    need_image(CORE_IMAGE)
    listener = sandbox.start("db", PROJECT_IMAGE, "python", "-m", "http.server", "5432")
    sandbox.wait_ready(
        listener, ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 5432))"]
    )
    env = ["-e", f"WA_DB_HOSTNAME={listener}", "-e", "WA_DB_PORT=5432", "-e", "WA_DB_WAIT_SECONDS=20"]
    for shim in ("wait_on_postgres.sh", "wait_on_mysql.sh"):
        done = sandbox.run(*env, CORE_IMAGE, f"{BIN}/{shim}", "echo", "started")
        assert (done.returncode, done.stdout) == (0, "started\n"), done.stderr


def test_wait_on_mysql_gives_up_after_its_bounded_wait(sandbox: Sandbox) -> None:
    need_image(CORE_IMAGE)
    env = ["-e", f"WA_DB_HOSTNAME={sandbox.prefix}-nowhere", "-e", "WA_DB_WAIT_SECONDS=2"]
    started = time.monotonic()
    done = sandbox.run(*env, CORE_IMAGE, f"{BIN}/wait_on_mysql.sh", "echo", "started")
    assert done.returncode == 1
    assert "started" not in done.stdout
    assert "did not accept connections within 2s" in done.stderr
    assert time.monotonic() - started < 15


def test_wait_on_mysql_without_a_database_host_runs_the_command_at_once(docker_engine: None) -> None:
    need_image(WEB_IMAGE)
    done = docker("run", "--rm", WEB_IMAGE, f"{BIN}/wait_on_mysql.sh", "echo", "started")
    assert done.stdout == "started\n"


def test_prometheus_image_answers_ready_with_its_default_command(sandbox: Sandbox) -> None:
    need_image(PROMETHEUS_IMAGE)
    server = sandbox.start(
        "prometheus", "-v", f"{sandbox.volume('prometheus')}:/prometheus", PROMETHEUS_IMAGE
    )
    # It listens on the container's own address (one: Prometheus 2.42 takes a single listen address).
    own = 'curl -fsS "http://$(hostname -i | cut -d" " -f1):9090/-/ready"'
    sandbox.wait_ready(server, ["sh", "-c", own], timeout=30)
    body = docker("exec", server, "sh", "-c", own).stdout
    assert "Ready" in body
    addresses = listen_addresses(server)
    assert not addresses & WILDCARDS, addresses
    # Reachable from another container on the network, i.e. not bound to loopback only.
    remote = sandbox.run(PROMETHEUS_IMAGE, "curl", "-fsS", f"http://{server}:9090/-/ready")
    assert remote.returncode == 0, remote.stderr


def test_prometheus_image_ships_promtool_and_accepts_flags_only_commands(docker_engine: None) -> None:
    need_image(PROMETHEUS_IMAGE)
    check = docker(
        "run", "--rm", PROMETHEUS_IMAGE, "promtool", "check", "config", "/etc/prometheus/prometheus.yml"
    )
    assert "SUCCESS" in check.stdout + check.stderr
    version = docker("run", "--rm", PROMETHEUS_IMAGE, "--version")
    assert "prometheus, version 2.42" in version.stdout + version.stderr
