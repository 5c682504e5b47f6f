"""A deployment's files on a remote host, over the SSH connection its engine already holds (SFTP for the
files, one command for the host's identity and for `kill -0`).

The directory is `<remote_dir>/<project>/` (mode 0700); files are created 0600. Atomic writes go through a
temporary name and `posix_rename`; exclusive creation uses SFTP's O_EXCL open (mode 'x'); appends use
SFTP's append flag, which the server maps to O_APPEND, with the line sent as one write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import PurePosixPath
from typing import Any

from onprem.errors import EngineError, StateError
from onprem.hostfiles import PRIVATE

Run = Callable[[Sequence[str]], tuple[int, bytes, bytes]]
"""Runs a command on the host: (exit code, stdout, stderr). Raises EngineError when it cannot."""

IDENTITY_SCRIPT = (
    "uname -n; cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id 2>/dev/null || true"
)
MAX_LINE = 32_768
"""The largest SFTP write paramiko sends as one request: an audit line must fit, to stay one append."""


class SftpFiles:
    """`root` on the host `address` names, through `sftp` (returns the connection's SFTP client, opening
    the connection when needed) and `run`."""

    def __init__(self, sftp: Callable[[], Any], root: PurePosixPath, run: Run, address: str) -> None:
        self._sftp_factory = sftp
        self._root = root
        self._run = run
        self._address = address
        self._identity: tuple[str, str] | None = None
        self._ready = False

    @property
    def location(self) -> str:
        return f"{self._address}:{self._root}"

    def _who(self) -> tuple[str, str]:
        if self._identity is None:
            code, out, err = self._run(["sh", "-c", IDENTITY_SCRIPT])
            lines = out.decode("utf-8", "replace").split()
            if code != 0 or not lines:
                why = err.decode("utf-8", "replace").strip()
                raise EngineError(f"cannot read the host name of {self._address}: {why}")
            self._identity = (lines[0], lines[1] if len(lines) > 1 else "")
        return self._identity

    @property
    def host(self) -> str:
        return self._who()[0]

    @property
    def machine_id(self) -> str:
        return self._who()[1]

    def _client(self) -> Any:
        try:
            client = self._sftp_factory()
        except Exception as exc:
            raise EngineError(f"cannot reach {self._address} over SSH: {exc}") from None
        if not self._ready:
            # The directory holds secrets/ and the lock: only its owner may enter it.
            code, _out, err = self._run(["mkdir", "-p", "-m", "700", str(self._root)])
            if code != 0:
                raise StateError(f"cannot create {self.location}: {err.decode(errors='replace').strip()}")
            self._call(lambda: client.chmod(str(self._root), 0o700), "")
            self._ready = True
        return client

    def _path(self, name: str) -> str:
        return str(self._root / name)

    def _call(self, work: Callable[[], Any], name: str) -> Any:
        try:
            return work()
        except OSError as exc:
            raise StateError(f"cannot use {self.location}/{name}: {exc.strerror or exc}") from None

    def read(self, name: str) -> bytes | None:
        client = self._client()

        def _read() -> bytes | None:
            try:
                with client.open(self._path(name), "rb") as handle:
                    return bytes(handle.read())
            except FileNotFoundError:
                return None

        result: bytes | None = self._call(_read, name)
        return result

    def _fill(self, client: Any, handle: Any, path: str, data: bytes, mode: int) -> None:
        with handle:
            # Mode first, content second: the file is never readable by others with content in it.
            client.chmod(path, mode)
            handle.write(data)

    def write(self, name: str, data: bytes, mode: int = PRIVATE) -> None:
        client = self._client()
        tmp = self._path(f".{name}.{uuid.uuid4().hex}.tmp")

        def _write() -> None:
            self._fill(client, client.open(tmp, "wb"), tmp, data, mode)
            client.posix_rename(tmp, self._path(name))

        self._call(_write, name)

    def append(self, name: str, line: bytes) -> None:
        if len(line) > MAX_LINE:
            raise StateError(f"a line of {len(line)} bytes is too long to append to {self.location}/{name}")
        client = self._client()
        path = self._path(name)
        self._call(lambda: self._fill(client, client.open(path, "ab"), path, line, PRIVATE), name)

    def create(self, name: str, data: bytes, mode: int = PRIVATE) -> bool:
        client = self._client()
        path = self._path(name)

        def _create() -> bool:
            try:
                # paramiko's "x" adds O_EXCL to a mode; "w" is what makes the handle writable.
                handle = client.open(path, "wxb")
            except OSError as exc:
                # SFTP servers answer a plain "Failure" for an existing file: look whether it exists.
                try:
                    client.stat(path)
                except FileNotFoundError:
                    raise exc from None
                return False
            try:
                self._fill(client, handle, path, data, mode)
            except OSError:
                with suppress(OSError):
                    client.remove(path)  # a lock is never left empty by the one that created it
                raise
            return True

        created: bool = self._call(_create, name)
        return created

    def remove(self, name: str) -> None:
        client = self._client()

        def _remove() -> None:
            with suppress(FileNotFoundError):
                client.remove(self._path(name))

        self._call(_remove, name)

    def pid_alive(self, pid: int) -> bool:
        if pid <= 0:
            return False
        code, _out, err = self._run(["kill", "-0", str(pid)])
        # kill -0 fails with "Operation not permitted" for another user's process: it exists.
        return code == 0 or b"not permitted" in err.lower()
