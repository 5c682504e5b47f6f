"""A multiconnect deployment over three SSH hosts (isolated engines in network namespaces, routed to each
other): it reaches health, its nodes run where the roles say, plan is inert across the hosts, and every
host holds the lock and the audit log."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.changes.snapshot import engine_state, tree_state
from tests.integration.conftest import free_ports
from tests.integration.remote.hosts_lab import hosts_lab
from tests.integration.remote.isolated_host import IsolatedHost
from tests.integration.remote.test_ssh_deploy import onprem

NAME = "it-three-hosts"


def three_host_config(tmp_path: Path, hosts: list[IsolatedHost]) -> None:
    web, relay, exporter, prom = free_ports(4)
    roles = [["web", "db", "masters", "relay", "exporter"], ["masters", "coreapps"], ["coreapps"]]
    lines = [
        f"deployment:\n  name: {NAME}\n  timeout_seconds: 300\n",
        "client:\n  mode: multiconnect\n  shards: 2\n",
    ]
    lines.append("hosts:\n")
    for index, (host, role) in enumerate(zip(hosts, roles, strict=True)):
        lines.append(
            f"  - name: wa{index + 1}\n    address: ssh://{host.address}\n    identity_file: {host.key}\n"
            f"    known_hosts_file: {host.known_hosts}\n    remote_dir: {tmp_path / f'remote{index + 1}'}\n"
            f"    advertise_address: {host.ip}\n    roles: [{', '.join(role)}]\n"
        )
    lines.append(
        f"network:\n  web_port: {web}\n  relay_port: {relay}\n  exporter_port: {exporter}\n"
        f"  prometheus_port: {prom}\n"
    )
    (tmp_path / "onprem.yaml").write_text("".join(lines))


def test_three_hosts_reach_health_with_the_nodes_where_the_roles_say_and_plan_is_inert(
    tmp_path: Path, stack_images: None
) -> None:
    with hosts_lab(tmp_path, 3) as hosts:
        three_host_config(tmp_path, hosts)
        try:
            started = time.monotonic()
            done = onprem(tmp_path, "deploy", "--json")
            took = time.monotonic() - started
            assert done.returncode == 0, done.stderr
            print(f"\nthree hosts: deploy took {took:.1f} s")
            running = [set(h.docker("ps", "--format", "{{.Names}}").stdout.split()) for h in hosts]
            assert {f"{NAME}-waweb-1", f"{NAME}-db-1", f"{NAME}-master1-1"} <= running[0]
            assert {f"{NAME}-master2-1", f"{NAME}-wacore1-1", f"{NAME}-wacore3-1"} <= running[1]
            assert running[2] == {f"{NAME}-wacore2-1"}
            status = json.loads(onprem(tmp_path, "status", "--json").stdout)
            assert status["healthy"] is True, status

            def files() -> tuple[object, ...]:
                return tree_state(tmp_path / ".onprem"), *(
                    tree_state(tmp_path / f"remote{i}") for i in (1, 2, 3)
                )

            before = [engine_state(NAME, h.docker) for h in hosts], files()
            planned = onprem(tmp_path, "plan", "--json", "--detailed-exitcode")
            assert ([engine_state(NAME, h.docker) for h in hosts], files()) == before, (
                "plan changed something"
            )
            assert planned.returncode == 0, planned.stdout + planned.stderr

            for index in (1, 2, 3):
                remote = tmp_path / f"remote{index}" / NAME
                assert (remote / "audit.jsonl").stat().st_mode & 0o777 == 0o600
                assert not (remote / "lock.json").exists(), "the lock is released on every host"
                assert json.loads((remote / "identity.json").read_text())["id"]
        finally:
            down = onprem(tmp_path, "down", "--volumes", "--yes")
            assert down.returncode == 0, down.stderr
