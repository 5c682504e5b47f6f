"""The deployment lock and audit log with real `onprem deploy` processes on the real engine: a second deploy
fails at once naming the first, or waits for it with --lock-wait; a deploy killed with SIGKILL leaves a
lock that the next run reports as stale, breaks, and converges from."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_deploy import Deployment, make_deployment, project_containers


@dataclass
class Running:
    """An `onprem` process started in its own session, its output in files (no pipe to fill)."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def wait(self, timeout: float = 400) -> tuple[int, str, str]:
        code = self.process.wait(timeout)
        return code, self.out.read_text(), self.err.read_text()

    def kill(self) -> None:
        """SIGKILL the whole session: onprem and the compose it runs, as a lost terminal or OOM would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def start(dep: Deployment, name: str, *args: str) -> Running:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
    out, err = dep.workdir / f"{name}.out", dep.workdir / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "onprem.cli", *args],
            cwd=dep.workdir,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return Running(process, out, err)


def wait_for(what: str, ready: Callable[[], bool], running: Running, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert running.process.poll() is None, (
            f"onprem exited before {what}: {running.err.read_text()[-2000:]}"
        )
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)


def audit(dep: Deployment) -> list[dict[str, object]]:
    done = dep.run("audit", "--json", check=True)
    entries: list[dict[str, object]] = json.loads(done.stdout)["entries"]
    return entries


@pytest.fixture
def deployment(tmp_path: Path, stack_images: None) -> Iterator[Deployment]:
    dep = make_deployment(tmp_path, "it-lock")
    yield dep
    dep.run("down", "--volumes", "--yes", "--lock-wait", "60")


def test_a_second_deploy_fails_naming_the_first_or_waits_for_it(deployment: Deployment) -> None:
    lock = deployment.state / "lock.json"
    first = start(deployment, "first", "deploy", "--reason", "first of two")
    wait_for("lock", lock.exists, first)
    assert lock.stat().st_mode & 0o777 == 0o600

    second = deployment.run("deploy")
    assert second.returncode == 8, second.stderr
    for part in (f"pid {first.process.pid}", "`deploy`", "reason: first of two", "--lock-wait"):
        assert part in second.stderr

    assert first.process.poll() is None, "the first deploy still runs"
    waiter = start(deployment, "waiter", "deploy", "--lock-wait", "400", "--json")
    code, _, err = first.wait()
    assert code == 0, err
    code, out, err = waiter.wait()
    assert code == 0, err
    assert "waiting up to" in err
    assert json.loads(out)["healthy"] is True
    assert not lock.exists()

    entries = audit(deployment)
    assert [(e["command"], e["outcome"], e["pid"]) for e in entries] == [
        ("deploy", "ok", first.process.pid),
        ("deploy", "ok", waiter.process.pid),
    ], "the refused deploy changed nothing and left no line"
    assert entries[0]["reason"] == "first of two"
    assert entries[0]["changed"] is True
    assert entries[1]["changed"] is False
    assert (deployment.state / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_sigkilled_deploy_leaves_a_stale_lock_that_the_next_run_breaks_and_converges(
    deployment: Deployment,
) -> None:
    lock = deployment.state / "lock.json"
    victim = start(deployment, "victim", "deploy")
    wait_for("containers", lambda: lock.exists() and bool(project_containers(deployment.name)), victim)
    victim.kill()
    assert lock.exists(), "a SIGKILLed command cannot release its lock"

    status = deployment.run("lock", "status", "--json", check=True)
    row = json.loads(status.stdout)["locks"][0]
    assert (row["state"], row["holder"]["pid"]) == ("stale", victim.process.pid)

    again = deployment.run("deploy", "--json", check=True)
    assert "broke a stale lock" in again.stderr
    assert f"(pid {victim.process.pid})" in again.stderr
    assert json.loads(again.stdout)["healthy"] is True
    assert not lock.exists()
    assert "nothing changed" in deployment.run("deploy", check=True).stdout

    entries = audit(deployment)
    assert [(e["command"], e["outcome"]) for e in entries] == [("deploy", "ok"), ("deploy", "ok")]
