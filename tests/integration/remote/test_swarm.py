"""`deployment.target: swarm` on a real three-node Swarm (a manager and two workers, each an isolated
engine in its own network namespace, reached over SSH): the multiconnect deployment is deployed as a
stack, its services run where the node labels say, the health gate passes through the client's API,
and `down` removes the stack while keeping its volumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import free_ports
from tests.integration.remote.isolated_host import IsolatedHost
from tests.integration.remote.swarm_lab import swarm_lab

NAME = "it-swarm"
ROLES = [["web", "db", "masters", "relay", "exporter"], ["masters", "coreapps"], ["coreapps"]]


def swarm_config(tmp_path: Path, hosts: list[IsolatedHost], roles: list[list[str]], mode: str) -> None:
    web, relay, exporter, prom = free_ports(4)
    lines = [
        f"deployment:\n  name: {NAME}\n  timeout_seconds: 300\n  target: swarm\n",
        "swarm:\n  convergence_timeout_seconds: 240\n",
        "client:\n  mode: multiconnect\n  shards: 2\n" if mode == "multiconnect" else "",
        "hosts:\n",
    ]
    for index, (host, role) in enumerate(zip(hosts, roles, strict=True)):
        lines.append(
            f"  - name: n{index + 1}\n    address: ssh://{host.address}\n    identity_file: {host.key}\n"
            f"    known_hosts_file: {host.known_hosts}\n    remote_dir: {tmp_path / f'remote{index + 1}'}\n"
            f"    roles: [{', '.join(role)}]\n"
        )
    lines.append(
        f"network:\n  web_port: {web}\n  relay_port: {relay}\n  exporter_port: {exporter}\n"
        f"  prometheus_port: {prom}\n"
    )
    (tmp_path / "onprem.yaml").write_text("".join(lines))


def onprem(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI, given the time a first deploy needs here (every image copied to three nodes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
    argv = [sys.executable, "-m", "onprem.cli", *args]
    return subprocess.run(
        argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def running_services(host: IsolatedHost) -> set[str]:
    """The stack's services with a running task container on a node."""
    out = host.docker("ps", "--format", '{{.Label "com.docker.swarm.service.name"}}').stdout.split()
    return {name.removeprefix(f"{NAME}_") for name in out if name}


@pytest.mark.timeout(1500)  # a first deploy copies every image to three nodes
def test_a_three_node_swarm_runs_the_multiconnect_stack_where_the_labels_say_and_passes_the_gate(
    tmp_path: Path, stack_images: None
) -> None:
    with swarm_lab(tmp_path, 3) as hosts:
        swarm_config(tmp_path, hosts, ROLES, "multiconnect")
        try:
            started = time.monotonic()
            done = onprem(tmp_path, "deploy", "--json")
            took = time.monotonic() - started
            assert done.returncode == 0, done.stdout + done.stderr
            print(f"\nthree-node swarm: deploy took {took:.1f} s (images copied to every node)")
            placed = [running_services(h) for h in hosts]
            print(f"services by node: {[sorted(p) for p in placed]}")
            # Masters round robin over the hosts with the role, Coreapps likewise (as with compose).
            assert placed == [
                {"db", "waweb", "wafront", "relay", "exporter", "master1"},
                {"master2", "wacore1", "wacore3"},
                {"wacore2"},
            ]
            labels = json.loads(_node_labels(hosts[0], hosts[2]))
            assert labels == {"org.onprem.role.coreapps": "true", "org.onprem.host": "n3"}
            # The account's two shards are set by the bootstrap; the primary Master then assigns them.
            settling = time.monotonic()
            status = json.loads(onprem(tmp_path, "status", "--json").stdout)
            while not status["healthy"] and time.monotonic() - settling < 90:
                time.sleep(2)
                status = json.loads(onprem(tmp_path, "status", "--json").stdout)
            assert status["healthy"] is True, status
            print(f"status healthy {time.monotonic() - settling:.1f} s after the deploy returned")
            again = onprem(tmp_path, "deploy", "--json")
            assert again.returncode == 0, again.stderr
            assert json.loads(again.stdout)["changed"] is False, (
                "a second deploy with nothing changed is a no-op"
            )
        finally:
            down = onprem(tmp_path, "down")
            assert down.returncode == 0, down.stderr
        assert not any(running_services(h) for h in hosts), "down removes every task"
        volumes = hosts[0].docker("volume", "ls", "-q").stdout.split()
        assert f"{NAME}_mysqlData" in volumes, "down keeps the database's volume"


def _node_labels(manager: IsolatedHost, node: IsolatedHost) -> str:
    node_id = node.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    return manager.docker("node", "inspect", node_id, "--format", "{{json .Spec.Labels}}").stdout
