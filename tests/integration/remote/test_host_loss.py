"""A host that runs a shard's Coreapp is lost (every container killed, its dockerd stopped) under a steady
sender: the API keeps answering, the spare Coreapp takes the shard after `unhealthy_interval`, the sends
to that shard resume, no shard ever has two owners, and `onprem status` names the lost node."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import vname_cert
from tests.integration.remote.failover import deployed_api, lose_a_coreapp_host
from tests.integration.remote.hosts_lab import hosts_lab
from tests.integration.remote.isolated_host import IsolatedHost
from tests.integration.remote.test_ssh_deploy import onprem

NAME = "it-host-loss"
UNHEALTHY_INTERVAL = 10
# One Coreapp on each host; the web app, the database and a Master on the first, which stays.
ROLES = [
    ["web", "db", "masters", "relay", "exporter", "coreapps"],
    ["masters", "coreapps"],
    ["coreapps"],
]


def config(tmp_path: Path, hosts: list[IsolatedHost], web_port: int) -> None:
    relay, exporter, prom = free_ports(3)
    lines = [
        f"deployment:\n  name: {NAME}\n  timeout_seconds: 300\n",
        "client:\n  mode: multiconnect\n  shards: 2\n",
        "hosts:\n",
    ]
    for index, (host, roles) in enumerate(zip(hosts, ROLES, strict=True)):
        lines.append(
            f"  - name: wa{index + 1}\n    address: ssh://{host.address}\n    identity_file: {host.key}\n"
            f"    known_hosts_file: {host.known_hosts}\n    remote_dir: {tmp_path / f'remote{index + 1}'}\n"
            f"    advertise_address: {host.ip}\n    roles: [{', '.join(roles)}]\n"
        )
    lines.append(
        f"network:\n  web_port: {web_port}\n  relay_port: {relay}\n  exporter_port: {exporter}\n"
        f"  prometheus_port: {prom}\n"
    )
    (tmp_path / "onprem.yaml").write_text("".join(lines))


def test_losing_a_coreapp_host_fails_its_shard_over_to_the_spare_and_the_api_keeps_answering(
    tmp_path: Path, stack_images: None
) -> None:
    web_port = free_ports(1)[0]
    with hosts_lab(tmp_path, 3) as hosts:
        config(tmp_path, hosts, web_port)
        try:
            deployed = onprem(tmp_path, "deploy", "--json")
            assert deployed.returncode == 0, deployed.stderr
            (tmp_path / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
            assert onprem(tmp_path, "register", "1", "6315550000", "--cert", "vname.cert").returncode == 0
            logs = onprem(tmp_path, "logs", "waweb", "--tail", "400").stdout
            code = logs.rsplit("registration code ", 1)[1][:6]
            assert onprem(tmp_path, "verify", code).returncode == 0
            shards = onprem(tmp_path, "shards", "set", "2", "--cert", "vname.cert")
            assert shards.returncode == 0, shards.stderr

            with deployed_api(tmp_path) as api:
                victim, shard, seen = lose_a_coreapp_host(api, hosts, UNHEALTHY_INTERVAL)
            resumed = seen.resumed_after()
            print(
                f"\nhost loss: shard {shard} served again {resumed or 0:.1f} s after wa{victim + 1} was lost "
                f"(unhealthy_interval {UNHEALTHY_INTERVAL} s); {seen.failed_sends} sends failed of "
                f"{len(seen.sends)}; /v1/health unanswered {seen.unanswered} times of {len(seen.samples)}"
            )
            assert resumed is not None, (
                f"sends to shard {shard} did not resume: {seen.errors}; last health {seen.last_health}"
            )
            assert seen.unanswered == 0, "the API stopped answering"
            assert not seen.double_owners(), "a shard had two owners"
            status = json.loads(onprem(tmp_path, "status", "--json").stdout)
            kinds = {finding["kind"] for finding in status["cluster"]}
            assert "node_lost" in kinds, status["cluster"]
            assert any(f"wacore{victim + 1}" in reason for reason in status["problems"]), status
        finally:
            onprem(tmp_path, "down", "--volumes", "--yes")
