"""A stateful fake of the client's API and an engine that records exec and file copies."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onprem.api.account import Method, RegistrationAnswer
from onprem.engine.base import ContainerState
from onprem.errors import ApiError


def api_error(
    status: int, code: int | None, title: str = "", details: str = "", endpoint: str = ""
) -> ApiError:
    return ApiError(
        f"{endpoint} HTTP {status}: {code} {title}",
        status=status,
        code=code,
        title=title,
        details=details,
        endpoint=endpoint,
    )


@dataclass
class FakeClient:
    """Registration, two-step, settings, certificates, users, contacts, messages, backup."""

    registered: bool = False
    code: str = "123456"
    pin: str | None = None
    sunset: bool = False
    settings: dict[str, Any] = field(
        default_factory=lambda: {"webhooks": {"url": ""}, "callback_persist": True}
    )
    webhook_ca: str | None = None
    external: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=lambda: {"admin": "x"})
    calls: list[str] = field(default_factory=list)
    pending: bool = False

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        return {"gateway_status": "connected" if self.registered else "unregistered"}

    def request_code(
        self, cc: str, phone_number: str, method: Method, cert: str, *, pin: str | None = None
    ) -> RegistrationAnswer:
        self.calls.append("request_code")
        if self.sunset:
            raise api_error(
                403, 1005, "Access denied", "Unknown error: biz_link_on_prem_reg_blocked", "POST /v1/account"
            )
        if self.registered:
            return RegistrationAnswer(201)
        if self.pin is not None and pin != self.pin:
            raise api_error(400, 1008, "Required parameter is missing", "pin", "POST /v1/account")
        self.pending = True
        return RegistrationAnswer(202, "Acme")

    def verify(self, code: str) -> None:
        self.calls.append("verify")
        if not self.pending or code != self.code:
            raise api_error(
                400, 1009, "Parameter value is not valid", "wrong code", "POST /v1/account/verify"
            )
        self.registered, self.pending = True, False

    def enable_two_step(self, pin: str) -> None:
        self.calls.append("enable_two_step")
        self.pin = pin

    def disable_two_step(self) -> None:
        self.calls.append("disable_two_step")
        self.pin = None

    def get_application_settings(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.settings.items()}

    def patch_application_settings(self, changes: dict[str, Any]) -> None:
        self.calls.append("patch_settings")
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(self.settings.get(key), dict):
                self.settings[key].update(value)
            else:
                self.settings[key] = value

    def get_webhook_ca(self) -> str | None:
        return self.webhook_ca

    def upload_webhook_ca(self, ca_pem: str) -> None:
        self.calls.append("upload_webhook_ca")
        self.webhook_ca = ca_pem

    def upload_external_certificate(self, bundle_pem: str) -> None:
        self.calls.append("upload_external")
        self.external.append(bundle_pem)

    def create_user(self, username: str, password: str) -> None:
        self.calls.append("create_user")
        if username in self.users:
            raise api_error(400, 1014, "Internal error", "Unable to create user. Already exist?")
        self.users[username] = password

    def get_user(self, username: str) -> dict[str, Any]:
        if username not in self.users:
            raise api_error(404, 1006, "Resource not found")
        return {"username": username, "ROLES": "ADMIN" if username == "admin" else "USER"}

    def update_user(self, username: str, password: str) -> None:
        self.calls.append("update_user")
        self.users[username] = password

    def delete_user(self, username: str) -> None:
        self.calls.append("delete_user")
        if username not in self.users:
            raise api_error(404, 1006, "Resource not found")
        del self.users[username]

    def check_contacts(self, contacts: Sequence[str]) -> list[dict[str, Any]]:
        return [{"input": c, "wa_id": c.lstrip("+"), "status": "valid"} for c in contacts]

    def send_text(self, to: str, body: str, *, preview_url: bool = False) -> str:
        self.calls.append(f"send_text {to}")
        return "gBEG1"

    def backup_settings(self, password: str) -> str:
        if not self.registered:
            raise api_error(400, 1011, "Service not ready")
        return "ENCRYPTED:" + password[:2]

    def restore_settings(self, password: str, data: str) -> None:
        self.calls.append("restore_settings")
        self.registered = True


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class FakeExecEngine:
    """Records compose/exec/copy calls; `exec` answers from `outputs` by the first word of the script."""

    dump: bytes = b"CREATE DATABASE waent;\n"
    media: bytes = field(default_factory=lambda: tar_of({"wamedia/a.jpg": b"JPEG"}))
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail_exec: bool = False
    services: tuple[str, ...] = ("db", "wacore", "waweb")

    def check(self) -> None:
        pass

    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        self.calls.append(("compose", *args))
        return ""

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        return []

    def copy_images(self, names: Sequence[str]) -> None:
        pass

    def containers(self, project: str) -> list[ContainerState]:
        return [ContainerState(s, f"{project}-{s}-1", "running", "healthy", 0) for s in self.services]

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        return ""

    def read_file(self, project: str, service: str, path: str) -> bytes:
        return b"CA"

    @contextmanager
    def endpoint(self, host: str, port: int) -> Iterator[tuple[str, int]]:
        yield host, port

    def host_files(self, project: str) -> None:
        return None

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        self.calls.append(("exec", service, *argv[:1]))
        if self.fail_exec:
            return 1, b"", b"mysql: access denied"
        script = argv[2] if len(argv) > 2 else ""
        return 0, (self.dump if "dump" in script else b""), b""

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        self.calls.append(("read_tree", service, path))
        return self.media

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        self.calls.append(("write_tree", service, directory))
