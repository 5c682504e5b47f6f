"""Test doubles shared by unit tests: a recording engine and a scripted API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onprem.config import load_settings
from onprem.deployment import Deployment
from onprem.engine.base import ContainerState, VolumeState
from onprem.errors import ApiError, EngineError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def running(service: str, health: str | None = "healthy") -> ContainerState:
    return ContainerState(service=service, name=f"p-{service}-1", state="running", health=health, exit_code=0)


@dataclass
class RecordingEngine:
    """Records compose calls; reports containers from a script (a list per call, last one repeats)."""

    script: list[list[ContainerState]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    service_logs: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    on_compose: Callable[[Sequence[str]], None] | None = None
    missing_images: tuple[str, ...] = ()
    remote_files: Any = None
    """What `host_files` answers: None (a local engine) or a HostFiles standing for a remote host."""
    absent_images: tuple[str, ...] = ()
    """Images neither on the host nor copyable (this machine lacks them too)."""
    image_versions: dict[str, str] = field(default_factory=dict)
    """Image IDs by name (default: `sha256:<name>`)."""
    volume_list: list[VolumeState] = field(default_factory=list)
    on_compose_config: Callable[[str, Sequence[str]], str] | None = None
    """Answers `compose_config` (compose text, args); None: it fails, as on a host never deployed to."""

    def check(self) -> None:
        self.calls.append(("check",))

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        self.calls.append(("compose", project, *args))
        if self.on_compose:
            self.on_compose(args)
        return ""

    def compose_config(
        self,
        bundle_dir: Path,
        project: str,
        compose_text: str,
        args: Sequence[str],
        *,
        profiles: Sequence[str] = (),
    ) -> str:
        self.calls.append(("compose_config", project, *args))
        if self.on_compose_config is None:
            raise EngineError("no such file: db.env")
        return self.on_compose_config(compose_text, args)

    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        lacking = set(self.missing_images) | set(self.absent_images)
        return {n: None if n in lacking else self.image_versions.get(n, f"sha256:{n}") for n in names}

    def image_tags(self, repository: str) -> list[str]:
        return ["v2.53.2", "v2.57.2"]

    def volumes(self, project: str) -> list[VolumeState]:
        return list(self.volume_list)

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        self.calls.append(("images_to_copy", *names))
        return [name for name in names if name in self.missing_images]

    def copy_images(self, names: Sequence[str]) -> None:
        self.calls.append(("copy_images", *names))

    def containers(self, project: str) -> list[ContainerState]:
        self.calls.append(("containers", project))
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0] if self.script else []

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        return self.service_logs.get(service, "")

    def read_file(self, project: str, service: str, path: str) -> bytes:
        return self.files.get(path, b"CA")

    def endpoint(self, host: str, port: int) -> AbstractContextManager[tuple[str, int]]:
        self.calls.append(("endpoint", host, str(port)))
        return nullcontext((host, port))

    def host_files(self, project: str) -> Any:
        return self.remote_files

    def remove_container(self, project: str, service: str, name: str) -> None:
        self.calls.append(("remove_container", project, service, name))


@dataclass
class FakeApi:
    """Plays the client's login and health endpoints."""

    admin_password: str = "secret"
    changed: bool = False
    health_answers: list[Any] = field(default_factory=lambda: [{"gateway_status": "unregistered"}])
    logins: list[tuple[str, str, str | None]] = field(default_factory=list)

    def login(self, username: str, password: str, *, new_password: str | None = None) -> str:
        self.logins.append((username, password, new_password))
        if password != self.admin_password:
            raise ApiError("401", status=401, endpoint="POST /v1/users/login")
        if not self.changed and new_password is None:
            raise ApiError("1024", status=400, code=1024, endpoint="POST /v1/users/login")
        if new_password is not None:
            self.admin_password, self.changed = new_password, True
        return "token"

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        answer = self.health_answers.pop(0) if len(self.health_answers) > 1 else self.health_answers[0]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


class Clock:
    """A monotonic clock that only moves when `sleep` is called."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_deployment(
    tmp_path: Path,
    engine: Any,
    api: Any = None,
    text: str | None = None,
    environ: dict[str, str] | None = None,
) -> Deployment:
    """A Deployment of `tmp_path/onprem.yaml` (written from `text`, default a deployment named `unit`)
    over a fake engine, whose API client is always `api`; the clock only moves when it sleeps."""
    path = tmp_path / "onprem.yaml"
    if text is not None or not path.exists():
        path.write_text(text or "deployment:\n  name: unit\n")
    loaded = load_settings(path, environ={}, cwd=tmp_path)
    clock = Clock()
    return Deployment(
        loaded,
        engine=engine,
        api_factory=lambda _target: api,
        environ=environ or {},
        clock=clock,
        sleep=clock.sleep,
        now=lambda: NOW,
    )
