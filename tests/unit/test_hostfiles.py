"""This machine's HostFiles: exclusive create, atomic private writes, appends of whole lines, pid checks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from onprem.hostfiles import LocalFiles, process_alive


def test_create_is_exclusive_and_private(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path / "state")
    assert files.create("lock.json", b"first")
    assert not files.create("lock.json", b"second")
    assert files.read("lock.json") == b"first"
    assert (tmp_path / "state" / "lock.json").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["lock.json"], "no temporary left"


def test_only_one_of_many_concurrent_creators_wins(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path)
    wins: list[bool] = []
    threads = [
        threading.Thread(target=lambda n=n: wins.append(files.create("lock.json", b"%d" % n)))
        for n in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


def test_write_replaces_atomically_with_the_mode_asked(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path)
    files.write("a.json", b"one")
    files.write("a.json", b"two", mode=0o644)
    assert files.read("a.json") == b"two"
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644


def test_append_adds_whole_lines_to_a_private_file_and_remove_forgets_it(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path)
    files.append("audit.jsonl", b"one\n")
    files.append("audit.jsonl", b"two\n")
    assert files.read("audit.jsonl") == b"one\ntwo\n"
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    files.remove("audit.jsonl")
    files.remove("audit.jsonl")
    assert files.read("audit.jsonl") is None


def test_a_process_that_exited_is_not_alive_and_this_one_is() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert not process_alive(int(done.stdout))
    assert process_alive(os.getpid())
    assert process_alive(1), "another user's process (init) exists"
    assert not process_alive(0)


def test_identity_seams_are_used_when_given(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path, host="laptop", machine_id="m1", pid_alive=lambda pid: pid == 7)
    assert (files.host, files.machine_id, files.location) == ("laptop", "m1", str(tmp_path))
    assert files.pid_alive(7)
    assert not files.pid_alive(8)
