"""`lock status`, `lock release` and `audit` over this machine's and a host's files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from onprem.deployment import Deployment
from onprem.errors import LockError, StateError
from onprem.hostfiles import LocalFiles
from onprem.workflows.locks import lock_status, read_audit, release_locks
from onprem.workflows.operation import Caller, operation
from tests.unit.fakes import RecordingEngine, make_deployment
from tests.unit.workflows.test_operation import ALICE, BOB, Machine, here, remote


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return make_deployment(tmp_path, RecordingEngine())


def hold(deployment: Deployment, where: list[LocalFiles], caller: Caller) -> object:
    """A command that took the lock and is still running (or was killed): it never leaves its block."""
    held = operation(deployment, "deploy", reason="upgrade", where=where, caller=caller)
    held.__enter__()
    return held


def test_status_says_free_held_and_stale_per_place(tmp_path: Path, deployment: Deployment) -> None:
    machine = Machine(100)
    local, host = here(tmp_path, machine), remote(tmp_path)
    assert [row["state"] for row in lock_status(deployment, where=[local, host])["locks"]] == ["free", "free"]
    running = hold(deployment, [local, host], ALICE)
    rows = lock_status(deployment, where=[local, host])["locks"]
    assert [row["state"] for row in rows] == ["held", "held"]
    assert rows[1]["holder"]["user"] == "alice"
    assert "since 2026-01-01T00:00:00.000Z" in rows[0]["summary"]
    machine.alive.clear()
    assert [row["state"] for row in lock_status(deployment, where=[local, host])["locks"]] == [
        "stale",
        "stale",
    ]
    del running


def test_release_without_force_refuses_a_live_holder_of_another_user(
    tmp_path: Path, deployment: Deployment
) -> None:
    local = here(tmp_path, Machine(100))
    running = hold(deployment, [local], ALICE)
    with pytest.raises(LockError) as refused:
        release_locks(deployment, force=False, where=[local], caller=BOB)
    assert "alice@laptop (pid 100)" in str(refused.value)
    assert "--force" in str(refused.value)
    assert local.read("lock.json") is not None
    del running


def test_release_removes_your_own_lock_and_a_stale_one(tmp_path: Path, deployment: Deployment) -> None:
    machine = Machine(100)
    local, host = here(tmp_path, machine), remote(tmp_path)
    running = hold(deployment, [local, host], ALICE)
    done = release_locks(deployment, force=False, where=[local, host], caller=Caller("alice", 999))
    assert [row["released"] for row in done["released"]] == [True, True]
    assert local.read("lock.json") is None

    killed = hold(deployment, [local, host], ALICE)
    machine.alive.clear()
    done = release_locks(deployment, force=False, where=[local, host], caller=BOB)
    assert [row["state"] for row in done["released"]] == ["stale", "stale"]
    assert host.read("lock.json") is None
    del running, killed


def test_force_releases_any_lock_and_says_whose_it_was(tmp_path: Path) -> None:
    said: list[str] = []
    deployment = make_deployment(tmp_path, RecordingEngine())
    deployment.progress = said.append
    local = here(tmp_path, Machine(100))
    desktop = LocalFiles(local.directory, host="desktop", machine_id="m3")
    running = hold(deployment, [desktop], BOB)
    assert lock_status(deployment, where=[local])["locks"][0]["state"] == "held-elsewhere"
    with pytest.raises(LockError):
        release_locks(deployment, force=False, where=[local], caller=ALICE)
    release_locks(deployment, force=True, where=[local], caller=ALICE)
    assert local.read("lock.json") is None
    assert any("bob@desktop (pid 200)" in line for line in said)
    del running


def test_an_unreadable_lock_needs_force(tmp_path: Path, deployment: Deployment) -> None:
    local = here(tmp_path, Machine())
    local.write("lock.json", b"")
    assert lock_status(deployment, where=[local])["locks"][0]["state"] == "unreadable"
    with pytest.raises(LockError), operation(deployment, "deploy", where=[local], caller=ALICE):
        pass
    with pytest.raises(LockError):
        release_locks(deployment, force=False, where=[local], caller=ALICE)
    release_locks(deployment, force=True, where=[local], caller=ALICE)
    with operation(deployment, "deploy", where=[local], caller=ALICE):
        pass


def test_audit_merges_this_machine_and_the_host_newest_last(tmp_path: Path, deployment: Deployment) -> None:
    local, host = here(tmp_path, Machine(100, 200)), remote(tmp_path)
    other = LocalFiles(tmp_path / "desktop", host="desktop", machine_id="m3")
    for command in ("certs issue", "deploy"):
        with operation(deployment, command, where=[local, host], caller=ALICE):
            deployment.sleep(1)
    # A command run from another machine is only in the host's log.
    deployment.now = lambda: datetime(2026, 1, 2, tzinfo=UTC)
    with operation(deployment, "down", where=[other, host], caller=BOB):
        pass
    document = read_audit(deployment, where=[local, host])
    assert [entry["command"] for entry in document["entries"]] == ["certs issue", "deploy", "down"]
    assert [
        entry["command"] for entry in read_audit(deployment, limit=1, where=[local, host])["entries"]
    ] == ["down"]


def test_an_unreachable_host_does_not_hide_this_machines_audit_log(
    tmp_path: Path, deployment: Deployment
) -> None:
    said: list[str] = []
    deployment.progress = said.append
    local = here(tmp_path, Machine(100))
    with operation(deployment, "deploy", where=[local], caller=ALICE):
        pass

    class Unreachable(LocalFiles):
        def read(self, name: str) -> bytes | None:
            raise StateError("cannot reach wa1")

    document = read_audit(deployment, where=[local, Unreachable(tmp_path / "x", host="wa1", machine_id="")])
    assert len(document["entries"]) == 1
    assert any("cannot reach wa1" in line for line in said)
