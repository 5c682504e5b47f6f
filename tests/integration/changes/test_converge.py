"""A deploy SIGKILLed at any point converges when run again (real engine): the lock it left is reported
as stale and broken, and the re-run ends healthy on the configuration asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.integration.changes.conftest import Stack
from tests.integration.conftest import free_ports

# Progress lines of `onprem deploy` (stderr), in the order a deploy prints them; each is a kill point.
POINTS = [
    "release ",  # the release is written, nothing applied yet
    "starting ",  # just before `docker compose up`
    "waiting for every service",  # containers created, the gate begins
    "waiting for every service+0.3s",  # in the middle of the gate
    "certs: ",  # the gate passed; the bootstrap steps run
]


def deploy_killed_at(stack: Stack, point: str) -> None:
    marker, _, delay = point.partition("+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "onprem.cli", "deploy"],
        cwd=stack.workdir,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(marker):
            time.sleep(float(delay.rstrip("s") or 0))
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"deploy ended before {point!r}:\n{''.join(seen)}"


def test_a_deploy_killed_at_five_points_converges_on_the_next_run(stack: Stack) -> None:
    stack.write_config(extra="bootstrap:\n  certs: true\n")
    stack.ok("deploy")
    for point in POINTS:
        stack.ports[2] = free_ports(1)[0]  # a change, so that the deploy has work to do
        stack.write_config()
        deploy_killed_at(stack, point)
        again = stack.run("deploy", "--json")
        assert again.returncode == 0, f"after a kill at {point!r}:\n{again.stderr}"
        assert "stale" in again.stderr, f"the lock left at {point!r} is reported as stale"
        status = stack.ok("status")
        assert status["healthy"] is True
        assert any(f":{stack.ports[2]}->" in p for s in status["services"] for p in s["ports"]), point
        assert status["release"]["undeployed"] == ""
        planned = stack.run("plan", "--detailed-exitcode")
        assert planned.returncode == 0, (
            f"after a kill at {point!r} and a re-run, plan still sees:\n{planned.stdout}"
        )
