"""A fake deployed stack for rotation and upload tests: containers that an `up --force-recreate` restarts
with the secret files as they are then, a database that checks and changes its password from the SQL
files written into its container, the web container's certificate files, and a scripted client API."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from onprem.api.auth import Credentials
from onprem.config import load_settings
from onprem.deployment import ApiTarget, Deployment
from onprem.engine.base import ContainerState, VolumeState
from onprem.errors import ApiError, EngineError
from onprem.workflows import dbpassword
from tests.unit.fakes import NOW, Clock

SERVICES = ("db", "wacore", "waweb", "relay", "exporter")


@dataclass
class StackEngine:
    """The engine of a running stack. `db_password` is the database's; `mounted` what each service read
    from the secrets directory when it was last (re)created; `files` the containers' files by path."""

    secrets_dir: Path
    db_password: str = ""
    services: tuple[str, ...] = SERVICES
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    mounted: dict[str, dict[str, str]] = field(default_factory=dict)
    healthy: Callable[[StackEngine], bool] = lambda _engine: True
    """Whether the stack comes back healthy after a recreate or restart (default: always)."""
    broken: set[str] = field(default_factory=set)
    volume_list: list[VolumeState] = field(
        default_factory=lambda: [VolumeState("p_mysqlData", "2026-01-01", {})]
    )
    fail_compose: str | None = None
    """A compose subcommand that fails (EngineError)."""
    up: bool = True

    def start(self) -> None:
        for service in self.services:
            self._create(service)

    def _create(self, service: str) -> None:
        self.mounted[service] = {
            p.name: p.read_text()
            for p in self.secrets_dir.glob("*")
            if p.is_file() and not p.name.startswith(".")
        }

    def check(self) -> None:
        self.calls.append(("check",))

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        self.calls.append(("compose", *args))
        if self.fail_compose is not None and args and args[0] == self.fail_compose:
            raise EngineError(f"docker compose {args[0]} failed")
        if list(args[:1]) == ["up"]:
            for service in [a for a in args if not a.startswith("-") and a != "up"]:
                self._create(service)
        if list(args[:1]) == ["run"] and "rm" in args:
            self.files.pop(args[-1], None)
        if not self.healthy(self):
            self.broken = {"waweb"}
        else:
            self.broken = set()
        return ""

    def containers(self, project: str) -> list[ContainerState]:
        if not self.up:
            return []
        return [
            ContainerState(
                s, f"{project}-{s}-1", "restarting" if s in self.broken else "running", "healthy", 0
            )
            for s in self.services
        ]

    def volumes(self, project: str) -> list[VolumeState]:
        return list(self.volume_list) if self.up else []

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        return f"{service}: refused to start\n"

    def read_file(self, project: str, service: str, path: str) -> bytes:
        return self.files.get(path, b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")

    @contextmanager
    def endpoint(self, host: str, port: int) -> Iterator[tuple[str, int]]:
        yield host, port

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        self.calls.append(("write_tree", service, directory))
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            for info in archive.getmembers():
                if info.isfile():
                    handle = archive.extractfile(info)
                    assert handle is not None
                    self.files[f"{directory}/{info.name}"] = handle.read()
                    self.files[f"{directory}/{info.name}#mode"] = oct(info.mode).encode()

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        self.calls.append(("read_tree", service, path))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, data in self.files.items():
                if name.startswith(path + "/") and "#" not in name:
                    info = tarfile.TarInfo(PurePosixPath(path).name + name[len(path) :])
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        self.calls.append(("exec", service, *argv))
        if argv[:2] == ["rm", "-rf"]:
            return 0, b"", b""
        if argv[:2] == ["test", "-f"]:
            return (0 if argv[2] in self.files else 1), b"", b""
        work = dbpassword.WORK_DIR
        login = self.files.pop(f"{work}/{dbpassword.AUTH_FILE}").decode()
        sql = self.files.pop(f"{work}/{dbpassword.SQL_FILE}").decode()
        if login != self.db_password:
            return 1, b"", b"ERROR 1045 (28000): Access denied"
        if sql.startswith("SELECT Host"):
            return 0, b"%\nlocalhost\n", b""
        changed = re.search(r"(?:IDENTIFIED BY|PASSWORD) '((?:[^']|'')*)'", sql)
        if changed:
            self.db_password = changed.group(1).replace("''", "'").replace("\\\\", "\\")
        return 0, b"1\n", b""


@dataclass
class FakeClientApi:
    """The client's API as a rotation and an upload use it; records which key and admin password each
    client was made with."""

    admin_password: str
    settings: dict[str, Any] = field(default_factory=lambda: {"webhooks": {"url": ""}})
    uploads: list[str] = field(default_factory=list)
    refuse_upload: bool = False
    on_upload: Callable[[str], None] = lambda _pem: None
    """Where the client keeps an accepted bundle (the web container's data volume)."""
    calls: list[str] = field(default_factory=list)
    key: str | None = None
    credentials: Credentials | None = None

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        self.calls.append(f"health {self.key}")
        return {"gateway_status": "connected"}

    def login(self, username: str, password: str, *, new_password: str | None = None) -> str:
        if password != self.admin_password:
            raise ApiError("401", status=401, endpoint="POST /v1/users/login")
        return "token"

    def update_user(self, username: str, password: str) -> None:
        assert self.credentials is not None
        self.login(username, self.credentials.password)
        self.calls.append("update_user")
        self.admin_password = password

    def get_application_settings(self) -> dict[str, Any]:
        return {"webhooks": dict(self.settings["webhooks"])}

    def patch_application_settings(self, changes: dict[str, Any]) -> None:
        self.calls.append("patch_settings")
        self.settings["webhooks"].update(changes["webhooks"])

    def upload_external_certificate(self, bundle_pem: str) -> None:
        if self.refuse_upload:
            raise ApiError("400 invalid bundle", status=400, endpoint="POST /v1/certificates/external")
        self.uploads.append(bundle_pem)
        self.on_upload(bundle_pem)


def stack_deployment(tmp_path: Path, text: str, api: FakeClientApi, engine: Any = None) -> Deployment:
    """A Deployment of `text` whose API clients all share `api`'s state (key and credentials recorded)."""
    (tmp_path / "onprem.yaml").write_text(text)
    loaded = load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)

    def factory(target: ApiTarget) -> Any:
        api.key, api.credentials = target.api_key, target.credentials
        return api

    clock = Clock()
    return Deployment(
        loaded,
        engine=engine,
        api_factory=factory,
        environ={},
        clock=clock,
        sleep=clock.sleep,
        now=lambda: NOW,
    )
