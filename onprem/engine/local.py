"""The local engine: `docker compose` as a subprocess, the Docker SDK for inspection, logs and files."""

from __future__ import annotations

import importlib
import io
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from onprem.engine.base import ContainerState, VolumeState
from onprem.engine.compose import compose_argv
from onprem.engine.inspect import PROJECT_LABEL, SERVICE_LABEL, sorted_states, volume_state
from onprem.engine.load import docker_load
from onprem.errors import EngineError

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def _default_client() -> Any:
    # Imported here: the SDK is slow to import and only engine commands need it.
    docker: Any = importlib.import_module("docker")
    try:
        return docker.from_env(timeout=30)
    except docker.errors.DockerException as exc:
        raise EngineError(f"no Docker engine answers ({exc}); run `make engine` to start one") from None


class LocalEngine:
    """This machine's Docker engine. The SDK client and the process runner are injectable."""

    def __init__(
        self, client_factory: Callable[[], Any] = _default_client, runner: Runner = subprocess.run
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._run = runner

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def check(self) -> None:
        try:
            self.client.ping()
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"the Docker engine does not answer ({exc}); run `make engine`") from None
        done = self._run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EngineError(
                "Docker Compose v2 is missing (`docker compose version` failed); run `make engine`"
            )

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        """Run a command on this machine (no shell): (exit code, stdout, stderr). Raises EngineError
        when it cannot start or outlives `timeout`."""
        data = stdin if isinstance(stdin, bytes) or stdin is None else b"".join(stdin)
        feed: dict[str, Any] = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
        try:
            done: Any = self._run(list(argv), capture_output=True, check=False, timeout=timeout, **feed)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineError(f"{argv[0]} failed: {exc}") from None
        return int(done.returncode), bytes(done.stdout or b""), bytes(done.stderr or b"")

    def stage(self, bundle_dir: Path, project: str) -> str:
        """The bundle directory as this machine sees it (nothing to copy)."""
        return str(bundle_dir)

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        return []  # the images are already on this engine, or compose pulls them

    def copy_images(self, names: Sequence[str]) -> None:
        return None

    def load_images(self, chunks: Iterable[bytes]) -> None:
        docker_load(chunks)

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        return self._compose(compose_argv(bundle_dir, project, args, profiles=profiles), args, None)

    def compose_config(
        self,
        bundle_dir: Path,
        project: str,
        compose_text: str,
        args: Sequence[str],
        *,
        profiles: Sequence[str] = (),
    ) -> str:
        argv = compose_argv(bundle_dir, project, args, profiles=profiles, stdin=True)
        return self._compose(argv, args, compose_text)

    def _compose(self, argv: list[str], args: Sequence[str], stdin: str | None) -> str:
        # Never a terminal on stdin: compose asks questions there (e.g. "recreate the volume? data will be
        # lost") that a deploy must not answer.
        feed: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        try:
            done = self._run(argv, capture_output=True, text=True, check=False, **feed)
        except FileNotFoundError:
            raise EngineError("the docker CLI is not installed; run `make engine`") from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-15:])
            raise EngineError(f"docker compose {' '.join(args)} failed (exit {done.returncode}):\n{tail}")
        return str(done.stdout) + str(done.stderr)

    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        docker: Any = importlib.import_module("docker")
        found: dict[str, str | None] = {}
        for name in names:
            try:
                found[name] = str(self.client.images.get(name).id)
            except docker.errors.ImageNotFound:
                found[name] = None
            except docker.errors.DockerException as exc:
                raise EngineError(f"cannot inspect image {name}: {exc}") from None
        return found

    def image_tags(self, repository: str) -> list[str]:
        try:
            images = self.client.images.list(name=repository)
        except Exception as exc:
            raise EngineError(f"cannot list the images of {repository}: {exc}") from None
        return sorted({tag.rsplit(":", 1)[-1] for image in images for tag in image.tags})

    def volumes(self, project: str) -> list[VolumeState]:
        try:
            found = self.client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"})
        except Exception as exc:
            raise EngineError(f"cannot list the volumes of {project}: {exc}") from None
        return sorted((volume_state(v.attrs) for v in found), key=lambda v: v.name)

    def _list(self, project: str) -> list[Any]:
        return list(self.client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"}))

    def containers(self, project: str) -> list[ContainerState]:
        return sorted_states([container.attrs for container in self._list(project)])

    def endpoint(self, host: str, port: int) -> AbstractContextManager[tuple[str, int]]:
        return nullcontext((host, port))

    def host_files(self, project: str) -> None:
        return None  # this machine's state directory is the host's

    def _service(self, project: str, service: str) -> list[Any]:
        return [c for c in self._list(project) if c.labels.get(SERVICE_LABEL) == service]

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        out = []
        for container in self._service(project, service):
            raw = container.logs(tail=tail, stdout=True, stderr=True)
            out.append(raw.decode("utf-8", "replace"))
        return "".join(out)

    def read_file(self, project: str, service: str, path: str) -> bytes:
        containers = self._service(project, service)
        if not containers:
            raise EngineError(f"service {service} has no container in project {project}")
        try:
            chunks, _ = containers[0].get_archive(path)
        except Exception as exc:
            raise EngineError(f"cannot read {path} from {service}: {exc}") from None
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = next((m for m in archive.getmembers() if m.isfile()), None)
            handle = archive.extractfile(member) if member is not None else None
            if handle is None:
                raise EngineError(f"{path} in {service} is not a regular file")
            return handle.read()

    def _first(self, project: str, service: str, running: bool = False) -> Any:
        containers = self._service(project, service)
        if running:
            containers = [c for c in containers if c.status == "running"]
        if not containers:
            state = "running " if running else ""
            raise EngineError(f"service {service} has no {state}container in project {project}")
        return containers[0]

    def remove_container(self, project: str, service: str, name: str) -> None:
        found = [c for c in self._service(project, service) if c.name == name]
        if not found:
            raise EngineError(f"service {service} has no container {name} in project {project}")
        try:
            found[0].stop(timeout=10)
            found[0].remove()
        except Exception as exc:
            raise EngineError(f"cannot remove {name}: {exc}") from None

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        container = self._first(project, service, running=True)
        try:
            code, (out, err) = container.exec_run(list(argv), demux=True)
        except Exception as exc:
            raise EngineError(f"cannot run {argv[0]} in {service}: {exc}") from None
        return int(code), out or b"", err or b""

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        container = self._first(project, service)
        try:
            chunks, _ = container.get_archive(path)
            return b"".join(chunks)
        except Exception as exc:
            raise EngineError(f"cannot read {path} from {service}: {exc}") from None

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        container = self._first(project, service)
        try:
            ok = container.put_archive(directory, tar)
        except Exception as exc:
            raise EngineError(f"cannot write into {directory} of {service}: {exc}") from None
        if not ok:
            raise EngineError(f"the engine refused to write into {directory} of {service}")
