"""A host that runs a shard's Coreapp is lost (every container killed, its dockerd stopped) under a steady
sender: the API keeps answering, the spare Coreapp takes the shard after `unhealthy_interval`, the sends
to that shard resume, no shard ever has two owners, and `onprem status` names the lost node."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from onprem.emulator.ha import shard_of
from onprem.errors import ApiError
from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import vname_cert
from tests.integration.remote.hosts_lab import hosts_lab, lose
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
    # The web API is published at the first host's own address so this test reaches it directly.
    lines.append(
        f"network:\n  bind_address: {hosts[0].ip}\n  web_port: {web_port}\n  relay_port: {relay}\n"
        f"  exporter_port: {exporter}\n  prometheus_port: {prom}\n"
    )
    (tmp_path / "onprem.yaml").write_text("".join(lines))


def owners(health: Mapping[str, Any]) -> dict[int, list[str]]:
    """The live nodes that serve each shard, as /v1/health reports them."""
    found: dict[int, list[str]] = {}
    for key, info in health.items():
        if not isinstance(info, dict) or info.get("heartbeat") or info.get("gateway_status") != "connected":
            continue
        if isinstance(info.get("shard"), int):
            found.setdefault(info["shard"], []).append(key)
    return found


def recipient_in(shard: int, shards: int) -> str:
    return next(f"1631555{n:04d}" for n in range(10000) if shard_of(f"1631555{n:04d}", shards) == shard)


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

            state = tmp_path / ".onprem"
            api = ApiClient(
                f"https://{hosts[0].ip}:{web_port}",
                ca_file=state / "ca.pem",
                api_key=(state / "secrets" / "WA_API_KEY").read_text(),
                credentials=Credentials("admin", (state / "secrets" / "WA_ADMIN_PASSWORD").read_text()),
            )
            api.patch_application_settings({"unhealthy_interval": UNHEALTHY_INTERVAL})
            deadline = time.monotonic() + 60
            while len(owners(api.health())) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            before = owners(api.health())
            assert sorted(before) == [0, 1], before
            # Lose the host of a shard owner other than the first (which holds the web app).
            victim_index, shard = next(
                (index, s)
                for index in (2, 1)
                for s, nodes in before.items()
                if nodes[0].startswith(f"wacore{index + 1}:")
            )
            to = recipient_in(shard, 2)

            samples: list[dict[int, list[str]]] = []
            api_failures = [0]
            sends: list[tuple[float, bool]] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    try:
                        samples.append(owners(api.health(timeout=2)))
                    except ApiError:
                        api_failures[0] += 1
                    time.sleep(0.25)

            def send() -> None:
                while not stop.is_set():
                    try:
                        api.send_text(f"+{to}", "steady")
                        sends.append((time.monotonic(), True))
                    except ApiError:
                        sends.append((time.monotonic(), False))
                    time.sleep(0.1)

            threads = [
                threading.Thread(target=watch, daemon=True),
                threading.Thread(target=send, daemon=True),
            ]
            for thread in threads:
                thread.start()
            time.sleep(2)
            lost_at = time.monotonic()
            lose(hosts[victim_index])
            resumed = None
            deadline = lost_at + 120
            while resumed is None and time.monotonic() < deadline:
                time.sleep(0.5)
                after = [moment for moment, ok in list(sends) if ok and moment > lost_at]
                failed_since = [m for m, ok in list(sends) if not ok and m > lost_at]
                if after and failed_since and after[-1] > failed_since[-1]:
                    resumed = min(m for m in after if m > failed_since[-1])
            stop.set()
            for thread in threads:
                thread.join(timeout=5)

            failed = sum(1 for moment, ok in sends if not ok and moment > lost_at)
            assert resumed is not None, f"sends to shard {shard} did not resume ({failed} failed)"
            print(
                f"\nhost loss: shard {shard} served again {resumed - lost_at:.1f} s after wa"
                f"{victim_index + 1} was lost (unhealthy_interval {UNHEALTHY_INTERVAL} s); {failed} sends "
                f"failed of {len(sends)}; /v1/health unanswered {api_failures[0]} times of {len(samples)}"
            )
            assert api_failures[0] == 0, "the API stopped answering"
            assert all(len(nodes) <= 1 for sample in samples for nodes in sample.values()), (
                "a shard had two owners"
            )
            status = json.loads(onprem(tmp_path, "status", "--json").stdout)
            kinds = {finding["kind"] for finding in status["cluster"]}
            assert "node_lost" in kinds, status["cluster"]
            assert any(f"wacore{victim_index + 1}" in reason for reason in status["problems"]), status
        finally:
            onprem(tmp_path, "down", "--volumes", "--yes")
