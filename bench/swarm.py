"""Swarm beside compose, measured in one run on this machine: a fresh deploy of the same single-host stack
(single instance, MySQL, relay, exporter) on one isolated host (a network namespace with its own engine
and sshd, made a one-node Swarm), once with `deployment.target: compose` and once with `target: swarm`.
Images are copied to the host by an untimed first deploy; each timed deploy starts after `down` (volumes
kept), so both start the same containers from images already there, and both end at the same gate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.foundation import ONPREM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.remote.isolated_host import IsolatedHost  # noqa: E402
from tests.integration.remote.swarm_lab import swarm_lab  # noqa: E402


def config(work: Path, host: IsolatedHost, target: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "onprem.yaml").write_text(
        f"deployment:\n  name: bench-{target}\n  timeout_seconds: 300\n  target: {target}\n"
        "network:\n  web_port: 19690\n  relay_port: 19643\n  exporter_port: 19608\n  prometheus_port: 19691\n"
        f"hosts:\n  - name: h1\n    address: ssh://{host.address}\n    identity_file: {host.key}\n"
        f"    known_hosts_file: {host.known_hosts}\n    remote_dir: {work / 'remote'}\n"
    )


def onprem(work: Path, *args: str) -> None:
    done = subprocess.run(
        [*ONPREM, *args], cwd=work, capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"onprem {' '.join(args)} in {work} failed ({done.returncode}):\n{done.stderr}")


def fresh_deploy(work: Path) -> float:
    """Seconds of a deploy from nothing running (images on the host, volumes kept from the first)."""
    onprem(work, "deploy")  # copies the images: not timed
    onprem(work, "down")
    started = time.perf_counter()
    onprem(work, "deploy")
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, swarm_lab(Path(tmp), 1) as hosts:
        took: dict[str, float] = {}
        for target in ("compose", "swarm"):
            work = Path(tmp) / target
            config(work, hosts[0], target)
            try:
                took[target] = fresh_deploy(work)
            finally:
                onprem(work, "down", "--volumes", "--yes")
    print(
        f"swarm deploy / compose deploy of the same single-host stack: {took['swarm']:.1f} s / "
        f"{took['compose']:.1f} s = {took['swarm'] / took['compose']:.2f}x"
    )
    print(json.dumps({"swarm_s": took["swarm"], "compose_s": took["compose"]}))


if __name__ == "__main__":
    main()
