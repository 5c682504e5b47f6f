"""A host's files over SFTP, against a fake SFTP client that answers like OpenSSH's server: exclusive
create, private modes, atomic writes, appends, and the host's identity and pid checks by command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pytest

from onprem.engine.sftp_files import SftpFiles
from onprem.errors import EngineError, StateError


class FakeSftp:
    """paramiko's SFTPClient over this machine's files; a failed exclusive open says only "Failure"."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def open(self, path: str, mode: str) -> IO[bytes]:
        """The open flags paramiko sends for a Python-style mode, as the server applies them."""
        self.calls.append(f"open {mode} {Path(path).name}")
        writable = any(c in mode for c in "wa+")
        flags = os.O_RDWR if writable and ("r" in mode or "+" in mode) else os.O_WRONLY if writable else 0
        if "w" in mode:
            flags |= os.O_CREAT | os.O_TRUNC
        if "a" in mode:
            flags |= os.O_CREAT | os.O_APPEND
        if "x" in mode:
            flags |= os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(path, flags, 0o644)
        except FileExistsError:
            raise OSError("Failure") from None
        return os.fdopen(fd, "ab" if "a" in mode else "wb" if writable else "rb")

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def posix_rename(self, old: str, new: str) -> None:
        os.replace(old, new)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def remove(self, path: str) -> None:
        os.remove(path)


class Host:
    """Runs commands as the host would (locally), recording them."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        self.argvs.append(list(argv))
        done = subprocess.run(list(argv), capture_output=True, check=False)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def files(tmp_path: Path) -> SftpFiles:
    return SftpFiles(FakeSftp, PurePosixPath(tmp_path / "remote" / "prod"), Host(), "ops@wa1")


def test_the_directory_is_private_and_created_on_first_use(tmp_path: Path, files: SftpFiles) -> None:
    assert files.read("lock.json") is None
    directory = tmp_path / "remote" / "prod"
    assert directory.stat().st_mode & 0o777 == 0o700
    assert files.location == f"ops@wa1:{directory}"


def test_create_is_exclusive_even_when_the_server_only_says_failure(tmp_path: Path, files: SftpFiles) -> None:
    assert files.create("lock.json", b"mine")
    assert not files.create("lock.json", b"theirs")
    assert files.read("lock.json") == b"mine"
    assert (tmp_path / "remote" / "prod" / "lock.json").stat().st_mode & 0o777 == 0o600


def test_a_failed_create_in_a_missing_directory_is_a_state_error(tmp_path: Path) -> None:
    host = Host()
    files = SftpFiles(FakeSftp, PurePosixPath(tmp_path / "f" / "d"), host, "wa1")
    (tmp_path / "f").write_text("a file where the directory should be")
    with pytest.raises(StateError, match="cannot create wa1:"):
        files.create("lock.json", b"x")


def test_write_is_atomic_and_append_adds_private_lines(tmp_path: Path, files: SftpFiles) -> None:
    files.write("state.json", b"one")
    files.write("state.json", b"two")
    files.append("audit.jsonl", b"a\n")
    files.append("audit.jsonl", b"b\n")
    directory = tmp_path / "remote" / "prod"
    assert sorted(p.name for p in directory.iterdir()) == ["audit.jsonl", "state.json"]
    assert files.read("state.json") == b"two"
    assert files.read("audit.jsonl") == b"a\nb\n"
    assert (directory / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    files.remove("state.json")
    files.remove("state.json")
    assert files.read("state.json") is None


def test_a_line_longer_than_one_sftp_write_is_refused(files: SftpFiles) -> None:
    with pytest.raises(StateError, match="too long"):
        files.append("audit.jsonl", b"x" * 40_000 + b"\n")


def test_identity_and_pid_checks_run_on_the_host(files: SftpFiles) -> None:
    assert files.host == os.uname().nodename
    assert files.pid_alive(os.getpid())
    assert files.pid_alive(1), "another user's process counts"
    assert not files.pid_alive(2**22 + 12345)


def test_an_unreachable_host_is_an_engine_error(tmp_path: Path) -> None:
    def unreachable() -> Any:
        raise OSError("Connection refused")

    files = SftpFiles(unreachable, PurePosixPath(tmp_path), Host(), "wa1")
    with pytest.raises(EngineError, match="cannot reach wa1 over SSH"):
        files.read("lock.json")
