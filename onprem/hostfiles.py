"""Files of one deployment on one host: the seam the lock and the audit log are written through.

A `HostFiles` is a directory on a host (this machine's state directory, or `<remote_dir>/<project>/` on a
remote host reached over SSH) with the few operations a lock and an append-only log need: read, atomic
write, append one line, exclusive create, remove; plus the host's identity and whether a process still
runs there, so a lock left by a killed process can be recognised. `LocalFiles` is this machine's; the
SSH engine provides the remote one (`onprem.engine.sftp_files`).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from onprem.errors import StateError

PRIVATE = 0o600
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


class HostFiles(Protocol):
    """Named files in one directory of one host. Every method raises StateError when the directory is
    unusable, and EngineError when a remote host cannot be reached."""

    @property
    def host(self) -> str:
        """The host's own name (as `uname -n` says it)."""

    @property
    def machine_id(self) -> str:
        """The host's machine id ("" when it has none): with `host`, tells two machines apart."""

    @property
    def location(self) -> str:
        """Where the files are, for messages: a path, or `host:path` for a remote host."""

    def read(self, name: str) -> bytes | None:
        """The file's content, None when it does not exist."""

    def write(self, name: str, data: bytes, mode: int = PRIVATE) -> None:
        """Replace the file atomically (a temporary name, then a rename); created with `mode`."""

    def append(self, name: str, line: bytes) -> None:
        """Append `line` with one O_APPEND write, so concurrent writers never interleave within a line;
        the file is created with mode 0600."""

    def create(self, name: str, data: bytes, mode: int = PRIVATE) -> bool:
        """Create the file holding `data` only if it does not exist; False when it does."""

    def remove(self, name: str) -> None:
        """Remove the file; nothing when it does not exist."""

    def pid_alive(self, pid: int) -> bool:
        """Whether a process with this id runs on the host (a process of another user counts)."""


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True


def this_machine_id() -> str:
    """This machine's id (systemd's or D-Bus's), "" when it has none."""
    for name in MACHINE_ID_FILES:
        try:
            return Path(name).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
    return ""


class LocalFiles:
    """A directory on this machine (created on first write). Host name, machine id and the process
    check are injectable for tests."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str | None = None,
        machine_id: str | None = None,
        pid_alive: Callable[[int], bool] = process_alive,
    ) -> None:
        self.directory = directory
        self._host = host
        self._machine_id = machine_id
        self._pid_alive = pid_alive

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = socket.gethostname()
        return self._host

    @property
    def machine_id(self) -> str:
        if self._machine_id is None:
            self._machine_id = this_machine_id()
        return self._machine_id

    @property
    def location(self) -> str:
        return str(self.directory)

    def _path(self, name: str) -> Path:
        return self.directory / name

    def _failed(self, name: str, exc: OSError) -> StateError:
        return StateError(f"cannot use {self._path(name)}: {exc.strerror or exc}")

    def _temporary(self, name: str, data: bytes, mode: int) -> Path:
        # A name of its own per writer: two processes writing the same file never share a temporary.
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._path(f".{name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._failed(name, exc) from None

    def write(self, name: str, data: bytes, mode: int = PRIVATE) -> None:
        try:
            os.replace(self._temporary(name, data, mode), self._path(name))
        except OSError as exc:
            raise self._failed(name, exc) from None

    def append(self, name: str, line: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
            try:
                written = os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._failed(name, exc) from None
        if written != len(line):
            raise StateError(f"cannot append to {self._path(name)}: only {written} of {len(line)} bytes")

    def create(self, name: str, data: bytes, mode: int = PRIVATE) -> bool:
        # Written in full under a temporary name, then linked to its name (link fails when the name
        # exists): no reader ever sees the file empty or half written.
        try:
            tmp = self._temporary(name, data, mode)
        except OSError as exc:
            raise self._failed(name, exc) from None
        try:
            os.link(tmp, self._path(name))
        except FileExistsError:
            return False
        except OSError as exc:
            raise self._failed(name, exc) from None
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def remove(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as exc:
            raise self._failed(name, exc) from None

    def pid_alive(self, pid: int) -> bool:
        return self._pid_alive(pid)
