"""The engine interface the workflows drive, and the container state it reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from onprem.hostfiles import HostFiles


@dataclass(frozen=True)
class ContainerState:
    """One container of a compose project, as the engine sees it."""

    service: str
    name: str
    state: str
    """Docker's state: created, running, restarting, exited, dead, ..."""
    health: str | None
    """healthy, unhealthy, starting, or None when the service has no healthcheck."""
    exit_code: int
    ports: tuple[str, ...] = ()
    image_id: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in (None, "healthy")

    @property
    def failed(self) -> bool:
        """Stopped for good or reported unhealthy: waiting longer will not help."""
        # "created" with an exit code: the engine could not start its process (bad image or command).
        started_and_failed = self.state == "created" and self.exit_code != 0
        return self.state in ("exited", "dead") or started_and_failed or self.health == "unhealthy"


@dataclass(frozen=True)
class VolumeState:
    """One named volume of a compose project."""

    name: str
    created: str
    labels: dict[str, str]


class Engine(Protocol):
    """A Docker engine that runs compose projects (local, or on a remote host)."""

    def check(self) -> None:
        """Raise EngineError unless the engine answers and Compose v2 is installed."""

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        """Run `docker compose ARGS` on a bundle; return its output. Raises EngineError on failure."""

    def compose_config(
        self,
        bundle_dir: Path,
        project: str,
        compose_text: str,
        args: Sequence[str],
        *,
        profiles: Sequence[str] = (),
    ) -> str:
        """`docker compose ... -f - ARGS` reading `compose_text` from stdin, with the bundle's directory on
        the engine's host as project directory: nothing is copied or written (for `config` queries).

        Raises EngineError on failure."""

    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        """The ID of each image on the engine's host, None where it is missing. Raises EngineError."""

    def image_tags(self, repository: str) -> list[str]:
        """The tags of `repository` on the engine's host (to say which exist). Raises EngineError."""

    def volumes(self, project: str) -> list[VolumeState]:
        """The named volumes of a compose project on the engine's host. Raises EngineError."""

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        """Which of `names` must be copied to the engine's host before `up` (none for a local engine).

        Raises EngineError when the host or this machine cannot list its images."""

    def copy_images(self, names: Sequence[str]) -> None:
        """Copy images from this machine to the engine's host. Raises EngineError when it fails."""

    def load_images(self, chunks: Iterable[bytes]) -> None:
        """`docker load` on the engine's host from a `docker save` stream (plain or gzip), sent as it is
        read and never written to the host's disk. Raises EngineError when the load fails."""

    def containers(self, project: str) -> list[ContainerState]:
        """Every container of a compose project, sorted by service then name."""

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        """The last `tail` log lines of a service's containers ("" when it has none)."""

    def read_file(self, project: str, service: str, path: str) -> bytes:
        """A file from inside a service's container. Raises EngineError when missing."""

    def endpoint(self, host: str, port: int) -> AbstractContextManager[tuple[str, int]]:
        """Where this machine reaches a port published on the engine's host at `host:port`.

        Local engines answer `(host, port)`; remote ones open a tunnel for the duration of the block.
        """

    def host_files(self, project: str) -> HostFiles | None:
        """The project's directory on the engine's host, over the engine's own connection (where the
        lock and the audit log are kept there); None for this machine's engine, whose host files are
        the state directory. Connects lazily: raises EngineError only when a file is used."""


class ExecEngine(Engine, Protocol):
    """An engine that also runs commands in, and copies files to and from, a service's container."""

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        """Run `argv` in the service's first running container: (exit code, stdout, stderr).

        Raises EngineError when the service has no running container."""

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        """A tar stream of `path` (file or directory) in the service's container. Raises EngineError."""

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        """Extract a tar stream into `directory` of the service's container. Raises EngineError."""

    def remove_container(self, project: str, service: str, name: str) -> None:
        """Stop (SIGTERM, SIGKILL after 10 s) and remove the container `name` of `service`, leaving the
        service's other containers as they are. Raises EngineError."""
