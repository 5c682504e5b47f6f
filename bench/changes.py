"""Changing a running deployment, measured side by side in one run on this machine (images prebuilt):

- `onprem plan` wall time over a no-op `onprem deploy`, and over a deploy that changes a port;
- `onprem rollback` wall time over a fresh deploy of the same release (`down`, then `deploy`);
- `onprem upgrade` v2.53.2 -> v2.57.2: the seconds /v1/health did not answer 200, beside a plain
  `onprem down && onprem deploy` of the same stack.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.foundation import ONPREM, sh, timed

NAME = "bench-changes"
PORTS = {"web_port": 19290, "relay_port": 19243, "exporter_port": 19208, "prometheus_port": 19291}


def config(work: Path, *, version: str = "2.57.2", exporter_port: int = PORTS["exporter_port"]) -> None:
    ports = {**PORTS, "exporter_port": exporter_port}
    network = "".join(f"  {k}: {v}\n" for k, v in ports.items())
    (work / "onprem.yaml").write_text(
        f'deployment:\n  name: {NAME}\nclient:\n  version: "{version}"\nnetwork:\n{network}'
    )


def onprem(work: Path, *args: str) -> None:
    sh([*ONPREM, *args], cwd=work)


@contextmanager
def outage(work: Path) -> Iterator[list[float]]:
    """The seconds /v1/health did not answer 200 while the block ran (polled every 50 ms)."""
    state = work / ".onprem" / NAME
    url = f"https://127.0.0.1:{PORTS['web_port']}/v1/health"
    headers = {"Authorization": f"Apikey {(state / 'secrets' / 'WA_API_KEY').read_text()}"}
    stop, down = threading.Event(), [0.0]

    def poll() -> None:
        last = time.monotonic()
        while not stop.is_set():
            try:
                ok = (
                    requests.get(url, headers=headers, timeout=1, verify=str(state / "ca.pem")).status_code
                    == 200
                )
            except requests.RequestException:
                ok = False
            now = time.monotonic()
            if not ok:
                down[0] += now - last
            last = now
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield down
    finally:
        stop.set()
        thread.join(timeout=5)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            config(work)
            onprem(work, "deploy")
            noop = min(timed(lambda: onprem(work, "deploy")) for _ in range(3))
            plan = min(timed(lambda: onprem(work, "plan")) for _ in range(3))
            config(work, exporter_port=19209)
            plan_change = min(timed(lambda: onprem(work, "plan")) for _ in range(3))
            real = timed(lambda: onprem(work, "deploy"))
            rollback = timed(lambda: onprem(work, "rollback", "--yes"))
            config(work)
            onprem(work, "down")
            fresh = timed(lambda: onprem(work, "deploy"))
            onprem(work, "down", "--volumes", "--yes")

            config(work, version="2.53.2")
            onprem(work, "deploy")
            with outage(work) as restart_down:
                onprem(work, "down")
                onprem(work, "deploy")
            with outage(work) as upgrade_down:
                upgrade = timed(lambda: onprem(work, "upgrade", "--version", "2.57.2"))
        finally:
            sh([*ONPREM, "down", "--volumes", "--yes"], cwd=work)
    rows = [
        ("plan (nothing to change) / no-op deploy", plan, noop),
        ("plan (a port changes) / the deploy of it", plan_change, real),
        ("rollback / fresh deploy of the same release", rollback, fresh),
    ]
    for label, measured, beside in rows:
        print(f"{label:<46} {measured:6.2f} s / {beside:6.2f} s = {measured / beside:.2f}x")
    print(
        f"upgrade 2.53.2 -> 2.57.2: /v1/health down {upgrade_down[0]:.1f} s of {upgrade:.1f} s; "
        f"down && deploy of the same stack: /v1/health down {restart_down[0]:.1f} s"
    )
    print("targets: plan/no-op <= 1.0x; rollback/fresh <= 0.5x")


if __name__ == "__main__":
    main()
