"""A remote engine: the Docker CLI on another host, driven over SSH with Fabric.

The bundle and its secrets are copied with SFTP into `<remote_dir>/<project>/` (secrets 0600 in a 0700
directory, written to a temporary name and renamed), then `docker compose` runs there. Ports published
on the remote host are reached through an SSH tunnel, so they can stay bound to its loopback. Host keys
are checked against known_hosts; an unknown host is refused rather than trusted on first use.
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from onprem.engine.base import ContainerState, VolumeState
from onprem.engine.compose import compose_argv
from onprem.engine.images import LIST_ARGV, ImageSource, LocalImages, normalize, parse_image_list, to_copy
from onprem.engine.inspect import PROJECT_LABEL, SERVICE_LABEL, sorted_states, volume_state
from onprem.engine.sftp_files import SftpFiles
from onprem.engine.tunnel import forward
from onprem.errors import EngineError

POLL_SECONDS = 0.01


class SshEngine:
    """The Docker engine of a host reached over SSH. `connection` is a `fabric.Connection`."""

    def __init__(self, connection: Any, *, remote_dir: str, images: ImageSource | None = None) -> None:
        """`images`: where images missing on the host are copied from (None: never copy any)."""
        self._conn = connection
        self._root = PurePosixPath(remote_dir)
        self._images = images

    def _run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        """Run a command on the host without a shell interpretation of its words; `stdin` is bytes or a
        stream of chunks (sent as they come, so a large one is never held in memory)."""
        try:
            self._conn.open()
            channel = self._conn.client.get_transport().open_session(timeout=30)
        except Exception as exc:
            raise EngineError(f"cannot reach {self._conn.host} over SSH: {exc}") from None
        channel.exec_command(shlex.join(argv))
        for chunk in [stdin] if isinstance(stdin, bytes) else stdin or ():
            channel.sendall(chunk)
        channel.shutdown_write()
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        while True:
            busy = False
            while channel.recv_ready():
                out += channel.recv(65536)
                busy = True
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
                busy = True
            # The exit status can arrive while output is still on its way: only the end of the output
            # stream (EOF, which sshd sends after the last data) says everything was read.
            drained = not channel.recv_ready() and not channel.recv_stderr_ready()
            if channel.eof_received and channel.exit_status_ready() and drained:
                break
            if time.monotonic() > deadline:
                channel.close()
                raise EngineError(f"{argv[0]} on {self._conn.host} did not finish within {timeout:.0f} s")
            if not busy:
                time.sleep(POLL_SECONDS)
        return channel.recv_exit_status(), bytes(out), bytes(err)

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        """Run a command on the host (no shell): (exit code, stdout, stderr). Raises EngineError when
        the host cannot be reached or the command outlives `timeout`."""
        return self._run(argv, stdin=stdin, timeout=timeout)

    def stage(self, bundle_dir: Path, project: str) -> str:
        """Copy the bundle and its secrets to the host; the bundle directory there. Raises EngineError."""
        return str(self.sync(bundle_dir, project))

    def _checked(self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None) -> bytes:
        code, out, err = self._run(argv, stdin=stdin)
        if code != 0:
            tail = "\n".join((err or out).decode("utf-8", "replace").strip().splitlines()[-15:])
            raise EngineError(f"{' '.join(argv[:3])} on {self._conn.host} failed (exit {code}):\n{tail}")
        return out

    def check(self) -> None:
        self._checked(["docker", "info", "--format", "{{.ServerVersion}}"])
        self._checked(["docker", "compose", "version"])

    def _upload(self, local: Path, remote: PurePosixPath, *, private: bool) -> None:
        sftp = self._conn.sftp()
        mode = 0o700 if private else 0o755
        self._checked(["mkdir", "-p", "-m", oct(mode)[2:], str(remote)])
        sftp.chmod(str(remote), mode)
        for path in sorted(local.rglob("*")):
            target = remote / path.relative_to(local).as_posix()
            if path.is_dir():
                self._checked(["mkdir", "-p", str(target)])
                continue
            tmp = target.with_name(f".{target.name}.tmp")
            with sftp.open(str(tmp), "wb") as handle:
                # Mode first, content second: a secret is never readable by others, not even briefly.
                sftp.chmod(str(tmp), 0o600 if private else path.stat().st_mode & 0o755)
                handle.write(path.read_bytes())
            sftp.posix_rename(str(tmp), str(target))

    def sync(self, bundle_dir: Path, project: str) -> PurePosixPath:
        """Copy a bundle and the secrets beside it to the host; the remote bundle directory."""
        remote = self._root / project
        self._upload(bundle_dir.parent / "secrets", remote / "secrets", private=True)
        self._upload(bundle_dir, remote / "bundle", private=False)
        return remote / "bundle"

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        remote = self.sync(bundle_dir, project)
        argv = compose_argv(Path(str(remote)), project, args, profiles=profiles)
        return self._checked(argv).decode("utf-8", "replace")

    def compose_config(
        self,
        bundle_dir: Path,
        project: str,
        compose_text: str,
        args: Sequence[str],
        *,
        profiles: Sequence[str] = (),
    ) -> str:
        """Like `compose` against the bundle directory on the host, with the compose file on stdin and
        nothing copied (the host keeps what the last deploy left there)."""
        remote = Path(str(self._root / project / "bundle"))
        argv = compose_argv(remote, project, args, profiles=profiles, stdin=True)
        return self._checked(argv, stdin=compose_text.encode()).decode("utf-8", "replace")

    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        present = parse_image_list(self._checked(LIST_ARGV).decode("utf-8", "replace"))
        return {name: present.get(normalize(name)) for name in names}

    def image_tags(self, repository: str) -> list[str]:
        present = parse_image_list(self._checked(LIST_ARGV).decode("utf-8", "replace"))
        return sorted(name.rsplit(":", 1)[1] for name in present if name.rsplit(":", 1)[0] == repository)

    def volumes(self, project: str) -> list[VolumeState]:
        names = (
            self._checked(["docker", "volume", "ls", "-q", "--filter", f"label={PROJECT_LABEL}={project}"])
            .decode()
            .split()
        )
        if not names:
            return []
        documents = json.loads(self._checked(["docker", "volume", "inspect", *names]))
        return sorted((volume_state(d) for d in documents), key=lambda v: v.name)

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        """The `names` this machine has and the host lacks (or holds in another version)."""
        if self._images is None or not names:
            return []
        remote = parse_image_list(self._checked(LIST_ARGV).decode("utf-8", "replace"))
        return to_copy(self._images.ids(names), remote)

    def copy_images(self, names: Sequence[str]) -> None:
        """Stream `docker save` of `names` from this machine into `docker load` on the host."""
        if self._images is None or not names:
            return
        self._checked(["docker", "load", "--quiet"], stdin=self._images.save(names))

    def load_images(self, chunks: Iterable[bytes]) -> None:
        """Stream `chunks` into `docker load` on the host over this engine's SSH connection."""
        self._checked(["docker", "load", "--quiet"], stdin=chunks)

    def _ids(self, project: str, service: str | None = None) -> list[str]:
        argv = ["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={project}"]
        if service is not None:
            argv += ["--filter", f"label={SERVICE_LABEL}={service}"]
        return self._checked(argv).decode().split()

    def containers(self, project: str) -> list[ContainerState]:
        ids = self._ids(project)
        if not ids:
            return []
        return sorted_states(json.loads(self._checked(["docker", "inspect", *ids])))

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        out = []
        for cid in self._ids(project, service):
            _code, stdout, stderr = self._run(["docker", "logs", "--tail", str(tail), cid])
            out.append((stdout + stderr).decode("utf-8", "replace"))
        return "".join(out)

    def _first(self, project: str, service: str) -> str:
        ids = self._ids(project, service)
        if not ids:
            raise EngineError(f"service {service} has no container in project {project} on {self._conn.host}")
        return ids[0]

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        return self._checked(["docker", "cp", f"{self._first(project, service)}:{path}", "-"])

    def read_file(self, project: str, service: str, path: str) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(self.read_tree(project, service, path))) as archive:
            member = next((m for m in archive.getmembers() if m.isfile()), None)
            handle = archive.extractfile(member) if member is not None else None
            if handle is None:
                raise EngineError(f"{path} in {service} is not a regular file")
            return handle.read()

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        self._checked(["docker", "cp", "-", f"{self._first(project, service)}:{directory}"], stdin=tar)

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        return self._run(["docker", "exec", self._first(project, service), *argv])

    def remove_container(self, project: str, service: str, name: str) -> None:
        names = (
            self._checked(
                [
                    "docker",
                    "ps",
                    "-a",
                    "--format",
                    "{{.Names}}",
                    "--filter",
                    f"label={PROJECT_LABEL}={project}",
                    "--filter",
                    f"label={SERVICE_LABEL}={service}",
                ]
            )
            .decode()
            .split()
        )
        if name not in names:
            raise EngineError(
                f"service {service} has no container {name} in project {project} on {self._conn.host}"
            )
        self._checked(["docker", "stop", "--time", "10", name])
        self._checked(["docker", "rm", name])

    def host_files(self, project: str) -> SftpFiles:
        """`<remote_dir>/<project>/` on the host, over this engine's SSH connection."""
        return SftpFiles(self._conn.sftp, self._root / project, self._run, str(self._conn.host))

    @contextmanager
    def endpoint(self, host: str, port: int) -> Iterator[tuple[str, int]]:
        try:
            self._conn.open()
        except Exception as exc:
            raise EngineError(f"cannot reach {self._conn.host} over SSH: {exc}") from None
        with forward(self._conn.client.get_transport(), host, port) as local_port:
            yield "127.0.0.1", local_port


def connect(
    address: str, *, identity_file: str | None, known_hosts_file: str | None, remote_dir: str
) -> SshEngine:
    """An SshEngine for `ssh://[user@]host[:port]`, refusing host keys known_hosts does not list.

    Raises EngineError when Fabric is missing or a known_hosts file cannot be read.
    """
    from urllib.parse import urlsplit

    try:
        from fabric import Connection
        from paramiko import RejectPolicy
    except ImportError as exc:  # pragma: no cover - fabric is a dependency
        raise EngineError(f"remote hosts need Fabric ({exc})") from None
    parts = urlsplit(address)
    connect_kwargs: dict[str, Any] = {"allow_agent": True, "look_for_keys": identity_file is None}
    if identity_file:
        connect_kwargs["key_filename"] = [str(Path(identity_file).expanduser())]
    connection = Connection(
        host=parts.hostname or "",
        user=parts.username or None,
        port=parts.port or 22,
        connect_kwargs=connect_kwargs,
        connect_timeout=15,
    )
    # Fabric trusts unknown hosts on first use by default; a deployment tool must not.
    connection.client.set_missing_host_key_policy(RejectPolicy())
    try:
        connection.client.load_system_host_keys()
        if known_hosts_file:
            connection.client.load_host_keys(str(Path(known_hosts_file).expanduser()))
    except OSError as exc:
        raise EngineError(f"cannot read known hosts ({exc}); add the host's key with ssh-keyscan") from None
    return SshEngine(connection, remote_dir=remote_dir, images=LocalImages())
