"""`operation()`: the lock on this machine and each host, --lock-wait, stale locks, the audit line."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from onprem.config import load_settings
from onprem.deployment import Deployment
from onprem.errors import EngineError, LockError
from onprem.hostfiles import LocalFiles
from onprem.render import expected_services
from onprem.workflows.deploy import deploy
from onprem.workflows.operation import Caller, operation
from tests.unit.fakes import FakeApi, RecordingEngine, make_deployment, running

ALICE = Caller("alice", 100)
BOB = Caller("bob", 200)


class Machine:
    """One machine's processes, as a pid check sees them."""

    def __init__(self, *alive: int) -> None:
        self.alive = set(alive)

    def __call__(self, pid: int) -> bool:
        return pid in self.alive


def here(tmp_path: Path, machine: Machine) -> LocalFiles:
    return LocalFiles(tmp_path / ".onprem" / "unit", host="laptop", machine_id="m1", pid_alive=machine)


def remote(tmp_path: Path, machine: Machine | None = None) -> LocalFiles:
    """A directory standing for a remote host's `<remote_dir>/<project>/`."""
    return LocalFiles(tmp_path / "wa1", host="wa1", machine_id="m2", pid_alive=machine or Machine())


def lines(files: LocalFiles) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (files.read("audit.jsonl") or b"").decode().splitlines()]


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return make_deployment(tmp_path, RecordingEngine())


def test_a_second_holder_fails_at_once_naming_the_first(tmp_path: Path, deployment: Deployment) -> None:
    machine = Machine(100, 200)
    files = here(tmp_path, machine)
    with (
        operation(deployment, "deploy", reason="release 7", where=[files], caller=ALICE),
        pytest.raises(LockError) as refused,
        operation(deployment, "down", where=[files], caller=BOB),
    ):
        pass
    message = str(refused.value)
    for part in ("alice@laptop", "pid 100", "since 2026-01-01T00:00:00.000Z", "`deploy`", "release 7"):
        assert part in message
    assert refused.value.exit_code == 8
    assert files.read("lock.json") is None, "the first holder released it on the way out"
    assert [line["command"] for line in lines(files)] == ["deploy"], "the refused command ran nothing"


def test_the_lock_is_taken_here_then_on_each_host_and_audited_on_both(
    tmp_path: Path, deployment: Deployment
) -> None:
    local, host = here(tmp_path, Machine(100)), remote(tmp_path)
    with operation(deployment, "deploy", where=[local, host], caller=ALICE) as op:
        assert json.loads(local.read("lock.json") or b"")["id"] == op.id
        assert json.loads(host.read("lock.json") or b"")["host"] == "laptop", "the holder is this machine"
        op.note(release="r1", plan="3 services created")
    assert local.read("lock.json") is None
    assert host.read("lock.json") is None
    assert lines(local) == lines(host)
    assert lines(local)[0]["locked"] == [local.location, host.location]


def test_a_host_held_by_another_machine_fails_and_gives_back_this_machines_lock(
    tmp_path: Path, deployment: Deployment
) -> None:
    local, host = here(tmp_path, Machine(100)), remote(tmp_path)
    other_machine = LocalFiles(tmp_path / "elsewhere", host="desktop", machine_id="m3")
    with operation(deployment, "deploy", where=[other_machine, host], caller=BOB):
        with (
            pytest.raises(LockError) as refused,
            operation(deployment, "deploy", where=[local, host], caller=ALICE),
        ):
            pass
        assert "bob@desktop" in str(refused.value)
        assert "cannot be checked from here" in str(refused.value)
        assert local.read("lock.json") is None


def test_a_stale_lock_left_on_this_machine_is_broken_with_a_warning(tmp_path: Path) -> None:
    said: list[str] = []
    deployment = make_deployment(tmp_path, RecordingEngine())
    deployment.progress = said.append
    machine = Machine(100)
    local, host = here(tmp_path, machine), remote(tmp_path)
    killed = operation(deployment, "deploy", where=[local, host], caller=ALICE)
    killed.__enter__()  # and never left, as if SIGKILLed (the reference keeps it from being collected)
    machine.alive.discard(100)

    with operation(deployment, "deploy", where=[local, host], caller=BOB) as op:
        assert json.loads(local.read("lock.json") or b"")["id"] == op.id
        assert json.loads(host.read("lock.json") or b"")["id"] == op.id
    stale = [line for line in said if "stale lock" in line]
    assert len(stale) == 2, said
    assert all("alice@laptop (pid 100)" in line and "2026-01-01T00:00:00.000Z" in line for line in stale)


def test_lock_wait_times_out_naming_the_holder(tmp_path: Path, deployment: Deployment) -> None:
    files = here(tmp_path, Machine(100, 200))
    with operation(deployment, "deploy", where=[files], caller=ALICE):
        started = deployment.clock()
        with (
            pytest.raises(LockError) as refused,
            operation(deployment, "down", where=[files], caller=BOB, lock_wait=5),
        ):
            pass
    assert deployment.clock() - started == pytest.approx(5)
    assert "after waiting 5 s" in str(refused.value)
    assert "alice@laptop" in str(refused.value)


def test_lock_wait_succeeds_when_the_holder_releases(tmp_path: Path, deployment: Deployment) -> None:
    files = here(tmp_path, Machine(100, 200))
    first = ExitStack()
    first.enter_context(operation(deployment, "deploy", where=[files], caller=ALICE))
    sleep: Callable[[float], None] = deployment.sleep
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        sleep(seconds)
        if len(naps) == 3:
            first.close()  # the first command finishes while the second waits

    deployment.sleep = nap
    with operation(deployment, "down", where=[files], caller=BOB, lock_wait=60) as op:
        assert json.loads(files.read("lock.json") or b"")["id"] == op.id
    assert len(naps) == 3
    assert [line["command"] for line in lines(files)] == ["deploy", "down"]


def test_ctrl_c_releases_every_lock_and_audits_aborted(tmp_path: Path, deployment: Deployment) -> None:
    local, host = here(tmp_path, Machine(100)), remote(tmp_path)
    with pytest.raises(KeyboardInterrupt), operation(deployment, "deploy", where=[local, host], caller=ALICE):
        raise KeyboardInterrupt
    assert local.read("lock.json") is None
    assert host.read("lock.json") is None
    line = lines(host)[0]
    assert line["outcome"] == "aborted"
    assert line["error"]["exit_code"] == 130


def test_a_declined_confirmation_is_audited_as_aborted(tmp_path: Path, deployment: Deployment) -> None:
    class Declined(RuntimeError):
        pass

    files = here(tmp_path, Machine(100))
    with (
        pytest.raises(Declined),
        operation(deployment, "restore", where=[files], caller=ALICE, aborted_by=(Declined,)),
    ):
        raise Declined
    assert lines(files)[0]["outcome"] == "aborted"


def test_a_failed_command_is_audited_with_its_error_class_message_and_exit_code(
    tmp_path: Path, deployment: Deployment
) -> None:
    files = here(tmp_path, Machine(100))
    with (
        pytest.raises(EngineError),
        operation(deployment, "down", reason="maintenance", where=[files], caller=ALICE),
    ):
        raise EngineError("docker compose down failed (exit 1)")
    line = lines(files)[0]
    assert line["outcome"] == "failed"
    assert line["error"] == {
        "type": "EngineError",
        "message": "docker compose down failed (exit 1)",
        "exit_code": 3,
    }
    assert line["reason"] == "maintenance"


def test_an_audit_line_says_who_when_what_and_how_it_went(tmp_path: Path, deployment: Deployment) -> None:
    files = here(tmp_path, Machine(100))
    with operation(deployment, "deploy", reason="r", where=[files], caller=ALICE) as op:
        deployment.sleep(2.5)
        op.note(release="r3", plan="1 service recreated", changed=True)
    line = lines(files)[0]
    assert line["time"] == "2026-01-01T00:00:00.000Z"
    assert (line["user"], line["host"], line["pid"]) == ("alice", "laptop", 100)
    assert (line["command"], line["deployment"], line["outcome"]) == ("deploy", "unit", "ok")
    assert (line["release"], line["plan"], line["changed"]) == ("r3", "1 service recreated", True)
    assert len(line["config_digest"]) == 64
    assert line["duration_seconds"] == 2.5
    assert line["error"] is None
    assert line["version"] == "0.1.0"
    assert (files.directory / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_note_cannot_rewrite_the_outcome(tmp_path: Path, deployment: Deployment) -> None:
    files = here(tmp_path, Machine(100))
    with (
        operation(deployment, "deploy", where=[files], caller=ALICE) as op,
        pytest.raises(ValueError, match="outcome"),
    ):
        op.note(outcome="ok")


def test_no_secret_value_reaches_the_lock_or_the_audit_log(tmp_path: Path) -> None:
    settings = load_settings(None, environ={}, cwd=tmp_path).settings
    seen: dict[str, bytes] = {}
    engine = RecordingEngine(script=[[running(s) for s in expected_services(settings)]])
    deployment = make_deployment(tmp_path, engine, FakeApi())
    host = remote(tmp_path)
    engine.remote_files = host
    engine.on_compose = lambda _args: seen.update(
        lock=(deployment.state.lock_file.read_bytes() + (host.read("lock.json") or b""))
    )
    with operation(deployment, "deploy", reason="first deploy") as op:
        result = deploy(deployment)
        op.note(changed=result.changed, release=getattr(result, "release", None))
    with pytest.raises(EngineError), operation(deployment, "deploy"):
        raise EngineError(f"compose failed in {deployment.state.secrets}")

    values = [p.read_text().strip() for p in deployment.state.secrets.iterdir() if p.is_file()]
    assert len(values) >= 4, "the deploy generated its secrets"
    logs = deployment.state.audit_file.read_text() + (host.read("audit.jsonl") or b"").decode()
    assert logs.count("\n") == 4
    assert seen["lock"]
    for value in values:
        for line in value.splitlines():
            if len(line.strip()) >= 8:
                assert line.strip() not in logs
                assert line.strip().encode() not in seen["lock"]
