"""`lock status`, `lock release`, `audit` and a locked command through `onprem.cli.main` (local engine:
the lock is this machine's state directory's)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from onprem.cli import main
from onprem.hostfiles import this_machine_id
from onprem.lock import Holder

LOCK = Path(".onprem") / "cli" / "lock.json"
AUDIT = Path(".onprem") / "cli" / "audit.jsonl"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ONPREM_"):
            monkeypatch.delenv(name)
    (tmp_path / "onprem.yaml").write_text("deployment:\n  name: cli\n")
    return tmp_path


def held_by(workdir: Path, pid: int, user: str = "someone-else") -> Holder:
    """A lock on this machine, as another onprem process (`pid`) would have left it."""
    holder = Holder(
        id="other-op",
        user=user,
        host=socket.gethostname(),
        machine=this_machine_id(),
        pid=pid,
        time="2026-01-01T00:00:00.000Z",
        command="deploy",
        reason="quarterly upgrade",
        version="0.1.0",
    )
    (workdir / LOCK).parent.mkdir(parents=True, exist_ok=True)
    (workdir / LOCK).write_bytes(holder.to_json())
    return holder


def gone_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def test_help_lists_lock_and_audit(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["--help"], capsys)
    assert "  lock " in out
    assert "  audit " in out
    _, out, _ = run(["deploy", "--help"], capsys)
    assert "--lock-wait SECONDS" in out
    assert "--reason TEXT" in out


def test_a_live_holder_makes_a_command_exit_8_naming_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held_by(workdir, os.getppid())
    code, _, err = run(["render"], capsys)
    assert code == 8
    for part in (
        "someone-else@",
        f"pid {os.getppid()}",
        "since 2026-01-01T00:00:00.000Z",
        "quarterly upgrade",
    ):
        assert part in err
    code, _, err = run(["render", "--lock-wait", "0.3"], capsys)
    assert code == 8
    assert "after waiting 0.3 s" in err
    assert not (workdir / AUDIT).exists()


def test_a_stale_lock_is_broken_with_a_warning_and_the_command_runs(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = gone_pid()
    held_by(workdir, pid)
    code, _, err = run(["render", "--reason", "after a crash"], capsys)
    assert code == 0, err
    assert f"broke a stale lock at {workdir / '.onprem' / 'cli'}: held by someone-else@" in err
    assert f"(pid {pid}) since 2026-01-01T00:00:00.000Z" in err
    assert not (workdir / LOCK).exists()
    entry = json.loads((workdir / AUDIT).read_text())
    assert (entry["command"], entry["reason"], entry["outcome"]) == ("render", "after a crash", "ok")


def test_lock_status_and_release(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["lock", "status"], capsys)
    assert (code, out.strip()) == (0, f"{workdir / '.onprem' / 'cli'}: free")
    held_by(workdir, os.getppid())
    code, out, _ = run(["lock", "status", "--json"], capsys)
    row = json.loads(out)["locks"][0]
    assert (row["state"], row["holder"]["pid"], row["holder"]["command"]) == ("held", os.getppid(), "deploy")

    code, _, err = run(["lock", "release"], capsys)
    assert code == 8
    assert "--force" in err
    assert (workdir / LOCK).exists()
    code, _, err = run(["lock", "release", "--force"], capsys)
    assert code == 0
    assert "held by someone-else@" in err
    assert not (workdir / LOCK).exists()


def test_audit_lists_commands_newest_last(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["render"], capsys)[0] == 0
    assert run(["certs", "issue", "--reason", "first certs"], capsys)[0] == 0
    code, out, _ = run(["audit", "--json"], capsys)
    entries = json.loads(out)["entries"]
    assert [e["command"] for e in entries] == ["render", "certs issue"]
    assert entries[1]["reason"] == "first certs"
    code, out, _ = run(["audit", "-n", "1"], capsys)
    assert code == 0
    assert "certs issue" in out
    assert " render " not in out
    assert (workdir / AUDIT).stat().st_mode & 0o777 == 0o600
