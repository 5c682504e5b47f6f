"""Several hosts, measured side by side in one run on this machine (isolated hosts: network namespaces with
their own engine and sshd, routed to each other; images copied to them once before timing):

- SSH connections per host per deploy (sshd's log counts each accepted connection);
- a deploy of a multiconnect stack over three hosts beside the same stack on one host (the median of
  alternated rounds);
- a rolling upgrade (v2.53.2 to v2.57.2) of the three-host stack under a steady sender (one send every
  100 ms, to both shards in turn): the sends that failed and the longest time /v1/health did not answer;
- a host loss: the seconds from a Coreapp's host lost to its shard served again, over the client's
  `unhealthy_interval`, and the sends to that shard that failed meanwhile.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.foundation import ONPREM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.ops.conftest import vname_cert  # noqa: E402
from tests.integration.remote.failover import (  # noqa: E402
    deployed_api,
    lose_a_coreapp_host,
    measure_failover,
    recipient_in,
)
from tests.integration.remote.hosts_lab import hosts_lab  # noqa: E402
from tests.integration.remote.isolated_host import IsolatedHost  # noqa: E402

NAME = "bench-hosts"
ACCEPTED = re.compile(r"Accepted publickey")
ROUNDS = 3
UNHEALTHY_INTERVAL = 10
# One Coreapp on each host; the web app, the database and a Master on the first.
THREE = [["web", "db", "masters", "relay", "exporter", "coreapps"], ["masters", "coreapps"], ["coreapps"]]


def config(work: Path, hosts: list[IsolatedHost], roles: list[list[str]] | None, name: str = NAME) -> None:
    """Three hosts with `roles`, or the first host alone (`roles` None, other ports: both stacks stay
    deployed on the first host)."""
    base = 19500 if roles else 19600
    lines = [
        f"deployment:\n  name: {name}\n  timeout_seconds: 300\n",
        'client:\n  mode: multiconnect\n  shards: 2\n  version: "2.53.2"\n',
        f"network:\n  web_port: {base + 90}\n  relay_port: {base + 43}\n",
        f"  exporter_port: {base + 8}\n  prometheus_port: {base + 91}\n",
        "hosts:\n",
    ]
    for index, host in enumerate(hosts if roles else hosts[:1]):
        lines.append(
            f"  - name: h{index + 1}\n    address: ssh://{host.address}\n    identity_file: {host.key}\n"
            f"    known_hosts_file: {host.known_hosts}\n    remote_dir: {work / f'remote{index + 1}'}\n"
            f"    advertise_address: {host.ip}\n"
        )
        if roles:
            lines.append(f"    roles: [{', '.join(roles[index])}]\n")
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


def timed_deploy(work: Path, logs: list[Path]) -> tuple[float, list[int]]:
    """A deploy from nothing running (the images already on the hosts): its seconds, and the SSH
    connections each host's sshd accepted during it. Then `down`, keeping volumes (not counted)."""
    before = [accepted(log) for log in logs]
    started = time.perf_counter()
    onprem(work, "deploy")
    took = time.perf_counter() - started
    connections = [accepted(log) - was for log, was in zip(logs, before, strict=True)]
    onprem(work, "down")
    return took, connections


def register(work: Path) -> None:
    (work / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
    onprem(work, "register", "1", "6315550000", "--cert", "vname.cert")
    logs = onprem(work, "logs", "waweb", "--tail", "400").stdout
    onprem(work, "verify", logs.rsplit("registration code ", 1)[1][:6])
    onprem(work, "shards", "set", "2", "--cert", "vname.cert")


def longest_gap(samples: list[tuple[float, bool]]) -> float:
    longest, start = 0.0, None
    for moment, ok in samples:
        if not ok and start is None:
            start = moment
        elif ok and start is not None:
            longest, start = max(longest, moment - start), None
    return longest


def failures(work: Path, hosts: list[IsolatedHost]) -> dict[str, float]:
    """The rolling upgrade and the host loss on the deployed three-host stack."""
    register(work)
    with deployed_api(work) as api:
        both = [recipient_in(0, 2), recipient_in(1, 2)]
        upgrade = partial(onprem, work, "upgrade", "--version", "2.57.2")
        rolling = measure_failover(api, both, upgrade, timeout=0)
        _victim, _shard, loss = lose_a_coreapp_host(api, hosts, UNHEALTHY_INTERVAL)
    return {
        "rolling_sends": len(rolling.sends),
        "rolling_failed_sends": rolling.failed_sends,
        "rolling_longest_failed_run_s": round(longest_gap(rolling.sends), 1),
        "rolling_health_unanswered": rolling.unanswered,
        "loss_failover_s": round(loss.resumed_after() or float("nan"), 1),
        "loss_failed_sends": loss.failed_sends,
        "loss_health_unanswered": loss.unanswered,
        "loss_double_owner_samples": len(loss.double_owners()),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        root = Path(tmp)
        with hosts_lab(root, 3) as hosts:
            three, one = root / "three", root / "one"
            three.mkdir()
            one.mkdir()
            config(three, hosts, THREE)
            config(one, hosts, None, name=f"{NAME}-one")
            logs = [root / f"host{i}" / "sshd.log" for i in (1, 2, 3)]
            try:
                for work in (three, one):  # copies the images: not timed
                    onprem(work, "deploy")
                    onprem(work, "down")
                # Alternated rounds, so that a slow moment of this shared machine hits both sides.
                rounds = [(timed_deploy(three, logs), timed_deploy(one, logs)) for _ in range(ROUNDS)]
                per_host = rounds[0][0][1]
                three_hosts = statistics.median(r[0][0] for r in rounds)
                one_host = statistics.median(r[1][0] for r in rounds)
                print(f"SSH connections per host during one deploy (h1, h2, h3): {per_host}   target: 1 each")
                print(
                    f"deploy over three hosts / the same stack on one host, median of {ROUNDS} alternated "
                    f"rounds: {three_hosts:.1f} s / {one_host:.1f} s = {three_hosts / one_host:.2f}x   "
                    "target: <= 1.3x",
                    flush=True,
                )
                onprem(three, "deploy")
                seen = failures(three, hosts)
                print(
                    f"rolling upgrade v2.53.2 -> v2.57.2: {seen['rolling_failed_sends']} of "
                    f"{seen['rolling_sends']} sends failed (longest failed run "
                    f"{seen['rolling_longest_failed_run_s']} s); /v1/health unanswered "
                    f"{seen['rolling_health_unanswered']} of its polls"
                )
                print(
                    f"host loss: shard served again after {seen['loss_failover_s']} s / unhealthy_interval "
                    f"{UNHEALTHY_INTERVAL} s = {seen['loss_failover_s'] / UNHEALTHY_INTERVAL:.2f}x; "
                    f"{seen['loss_failed_sends']} sends failed; /v1/health unanswered "
                    f"{seen['loss_health_unanswered']} times; samples with a shard of two owners: "
                    f"{seen['loss_double_owner_samples']}"
                )
            finally:
                for work in (three, one):
                    subprocess.run(
                        [*ONPREM, "down", "--volumes", "--yes"], cwd=work, capture_output=True, check=False
                    )
    print(
        json.dumps(
            {
                "ssh_connections_per_host": per_host,
                "three_hosts_s": three_hosts,
                "one_host_s": one_host,
                **seen,
            }
        )
    )


if __name__ == "__main__":
    main()
