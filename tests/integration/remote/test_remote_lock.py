"""The lock and the audit log on a remote host, over real sshd and SFTP.

On the isolated host (its own network namespace, dockerd and sshd): a command leaves one audit line there
(0600, in a 0700 directory) and releases its lock; a lock held from another machine stops a command with
exit 8 and is only removed by `lock release --force`; a stale lock left by this machine is broken. Over
this machine's own sshd, a real deploy holds the remote lock (0600) while it runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from onprem.hostfiles import this_machine_id
from onprem.lock import Holder
from tests.integration.remote.isolated_host import isolated_host
from tests.integration.remote.test_ssh_deploy import Sshd, onprem, remote_config, sshd  # noqa: F401


def holder(host: str, pid: int, machine: str = "another-machine") -> bytes:
    return Holder(
        id=f"held-by-{host}",
        user="carol",
        host=host,
        machine=machine,
        pid=pid,
        time="2026-01-01T00:00:00.000Z",
        command="deploy",
        reason="from elsewhere",
        version="0.1.0",
    ).to_json()


def gone_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def test_the_lock_and_audit_log_live_on_the_remote_host_too(tmp_path: Path, docker_engine: None) -> None:
    with isolated_host(tmp_path) as host:
        remote_config(tmp_path, host.address, host.key, "it-remote-lock", host.known_hosts)
        directory = tmp_path / "remote" / "it-remote-lock"
        local = tmp_path / ".onprem" / "it-remote-lock"

        done = onprem(tmp_path, "down", "--reason", "audit me")
        assert done.returncode == 0, done.stderr
        assert directory.stat().st_mode & 0o777 == 0o700
        assert (directory / "audit.jsonl").stat().st_mode & 0o777 == 0o600
        assert not (directory / "lock.json").exists(), "released after the command"
        assert not (local / "lock.json").exists()
        line = json.loads((directory / "audit.jsonl").read_text())
        assert (line["command"], line["reason"], line["outcome"]) == ("down", "audit me", "ok")
        address = host.address.split("@")[1].rsplit(":", 1)[0]
        assert line["locked"] == [str(local), f"{address}:{directory}"]
        assert (local / "audit.jsonl").read_text() == (directory / "audit.jsonl").read_text()

        # Another machine holds the host's lock: refused at once, naming it; this machine's lock given back.
        (directory / "lock.json").write_bytes(holder("desktop", 4242))
        refused = onprem(tmp_path, "down")
        assert refused.returncode == 8, refused.stderr
        assert "carol@desktop (pid 4242)" in refused.stderr
        assert f"{directory}" in refused.stderr
        assert not (local / "lock.json").exists()
        status = json.loads(onprem(tmp_path, "lock", "status", "--json").stdout)
        assert [row["state"] for row in status["locks"]] == ["free", "held-elsewhere"]
        assert onprem(tmp_path, "lock", "release").returncode == 8
        forced = onprem(tmp_path, "lock", "release", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "carol@desktop" in forced.stderr
        assert not (directory / "lock.json").exists()

        # A lock this machine left behind (its pid is gone) is stale, on the host as here.
        (directory / "lock.json").write_bytes(holder(socket.gethostname(), gone_pid(), this_machine_id()))
        broke = onprem(tmp_path, "down")
        assert broke.returncode == 0, broke.stderr
        assert "broke a stale lock" in broke.stderr
        assert not (directory / "lock.json").exists()

        # `audit` merges this machine's log with the host's: a command run from elsewhere shows too.
        with (directory / "audit.jsonl").open("a") as log:
            log.write(
                json.dumps({"id": "elsewhere", "time": "2099-01-01T00:00:00.000Z", "command": "deploy"})
                + "\n"
            )
        entries = json.loads(onprem(tmp_path, "audit", "--json").stdout)["entries"]
        assert [e["command"] for e in entries] == ["down", "down", "deploy"]


def test_a_deploy_over_ssh_holds_the_remote_lock_while_it_runs(
    tmp_path: Path,
    sshd: Sshd,  # noqa: F811
    stack_images: None,
) -> None:
    remote_config(tmp_path, f"root@127.0.0.1:{sshd.port}", sshd.key, "it-remote-locked", sshd.known_hosts)
    lock = tmp_path / "remote" / "it-remote-locked" / "lock.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONPREM_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "onprem.cli", "deploy"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not lock.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no remote lock within 120 s"
            time.sleep(0.1)
        assert lock.stat().st_mode & 0o777 == 0o600
        assert json.loads(lock.read_text())["pid"] == process.pid
        _, err = process.communicate(timeout=400)
        assert process.returncode == 0, err
        assert not lock.exists()
        audit = lock.with_name("audit.jsonl")
        assert audit.stat().st_mode & 0o777 == 0o600
        assert json.loads(audit.read_text())["outcome"] == "ok"
    finally:
        if process.poll() is None:
            process.kill()
        down = onprem(tmp_path, "down", "--volumes", "--yes")
    assert down.returncode == 0, down.stderr
