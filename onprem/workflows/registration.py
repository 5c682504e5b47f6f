"""Registration of the business number, resumable: `register` asks for a code, `verify CODE` ends it.

A pending request (number, method, when) is recorded in the state directory so `verify` knows what it
completes; being registered is read from the client itself (`/v1/health` gateway status), so both
commands are idempotent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from onprem.api.account import Method, RegistrationAnswer
from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError
from onprem.state import read_json, write_json

UNREGISTERED = frozenset({"unregistered", "uninitialized"})
ACCESS_DENIED = 1005


class HealthApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...


class AccountApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...

    def request_code(
        self, cc: str, phone_number: str, method: Method, cert: str, *, pin: str | None = None
    ) -> RegistrationAnswer: ...

    def verify(self, code: str) -> None: ...


@dataclass(frozen=True)
class RegistrationResult:
    status: str
    """`code sent`, `already registered` or `verified`."""
    number: str = ""
    vname: str | None = None
    method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def gateway_statuses(health: dict[str, Any]) -> list[str]:
    """Every gateway status in a health answer (single instance or keyed per node in multiconnect)."""
    if isinstance(health.get("gateway_status"), str):
        return [health["gateway_status"]]
    return [
        str(node["gateway_status"])
        for node in health.values()
        if isinstance(node, dict) and isinstance(node.get("gateway_status"), str)
    ]


def is_registered(api: HealthApi) -> bool:
    """Whether the client holds a registered number (no node says unregistered/uninitialized)."""
    statuses = gateway_statuses(api.health(timeout=10))
    return bool(statuses) and not any(status in UNREGISTERED for status in statuses)


def read_cert(path: Path) -> str:
    """The base64 verified-name certificate in `path`, whitespace removed. Raises ConfigError."""
    try:
        text = "".join(path.read_text(encoding="utf-8").split())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the verified-name certificate ({exc.strerror})") from None
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        text = ""
    if not text:
        raise ConfigError(
            f"{path}: is not a base64 verified-name certificate; download it from the WhatsApp Manager "
            "(phone number > certificate) and save it as-is"
        )
    return text


def read_pin(path: Path, warn: Callable[[str], None] = lambda _line: None) -> str:
    """A 6-digit two-step PIN from a file; `warn` hears when others may read the file.

    Raises ConfigError naming the file."""
    try:
        pin = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the PIN ({exc.strerror})") from None
    if not (len(pin) == 6 and pin.isdigit()):
        raise ConfigError(f"{path}: the two-step PIN must be exactly 6 digits")
    if mode & 0o077:
        warn(
            f"warning: {path} (the two-step PIN) is readable by others (mode {mode & 0o777:o}); chmod 600 it"
        )
    return pin


class PendingStore:
    """`<state>/registration.json`: the last code request, so `verify` can say what it completes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        """The pending request ({} when none). Raises StateError when the file is unreadable."""
        data = read_json(self.path, "the pending registration; delete it and run onprem register")
        return data if isinstance(data, dict) else {}

    def write(self, data: dict[str, Any]) -> None:
        write_json(self.path, data)


def _explain_request_error(exc: ApiError, pin_given: bool) -> ApiError:
    text = f"{exc.title} {exc.details}".lower()
    if "biz_link_on_prem_reg_blocked" in text:
        hint = "Meta blocks new On-Premises registrations since the sunset (1005); register on the Cloud API"
    elif "pin" in text and not pin_given:
        hint = "two-step verification is on for this number: give its 6-digit PIN with --pin-file FILE"
    elif "pin" in text:
        hint = "the two-step PIN is wrong: give the number's current PIN with --pin-file FILE"
    elif exc.code == ACCESS_DENIED or "cert" in text:
        hint = "check the verified-name certificate (--cert) belongs to this number and is current"
    else:
        return exc
    return ApiError(
        f"{exc}: {hint}",
        status=exc.status,
        code=exc.code,
        title=exc.title,
        details=exc.details,
        endpoint=exc.endpoint,
    )


def register(
    api: AccountApi,
    pending: PendingStore,
    *,
    cc: str,
    phone_number: str,
    method: Method,
    cert: str,
    pin: str | None,
) -> RegistrationResult:
    """Ask for a registration code (202) or find the number registered (201). Idempotent.

    Raises ApiError with what to fix (missing PIN, blocked registration, bad certificate).
    """
    number = f"+{cc} {phone_number}"
    if is_registered(api):
        return RegistrationResult("already registered", number)
    try:
        answer = api.request_code(cc, phone_number, method, cert, pin=pin)
    except ApiError as exc:
        raise _explain_request_error(exc, pin is not None) from None
    if answer.already_registered:
        return RegistrationResult("already registered", number)
    pending.write({"cc": cc, "phone_number": phone_number, "method": method, "vname": answer.vname})
    return RegistrationResult("code sent", number, answer.vname, method)


def verify(api: AccountApi, pending: PendingStore, code: str) -> RegistrationResult:
    """Complete a registration with the code received by SMS or voice. Idempotent once registered.

    Raises ConfigError for a malformed code, ApiError (with what to do) when the client refuses it.
    """
    request = pending.read()
    number = f"+{request['cc']} {request['phone_number']}" if request else ""
    if is_registered(api):
        return RegistrationResult("already registered", number)
    code = code.strip().replace("-", "")
    if not (code.isdigit() and 4 <= len(code) <= 8):
        raise ConfigError(f"{code!r} is not a verification code: give the digits received by SMS or voice")
    try:
        api.verify(code)
    except ApiError as exc:
        how = f"by {request['method']} to {number}" if request else "by SMS or voice"
        raise ApiError(
            f"{exc}: the client refused the verification code; check the code sent {how}, or ask for a "
            "new one with `onprem register`",
            status=exc.status,
            code=exc.code,
            title=exc.title,
            details=exc.details,
            endpoint=exc.endpoint,
        ) from None
    return RegistrationResult("verified", number, request.get("vname"), request.get("method"))


def pending_for(deployment: Deployment) -> PendingStore:
    return PendingStore(deployment.state.registration_file)


def register_number(
    deployment: Deployment,
    *,
    cc: str,
    phone_number: str,
    method: Method,
    cert_file: Path,
    pin_file: Path | None,
) -> RegistrationResult:
    """`onprem register`: `register` with the certificate and PIN read from their files."""
    cert = read_cert(cert_file)
    pin = read_pin(pin_file, deployment.progress) if pin_file is not None else None
    return register(
        deployment.api(),
        pending_for(deployment),
        cc=cc.lstrip("+"),
        phone_number=phone_number,
        method=method,
        cert=cert,
        pin=pin,
    )


def verify_code(deployment: Deployment, code: str) -> RegistrationResult:
    """`onprem verify CODE` on the deployment's client."""
    return verify(deployment.api(), pending_for(deployment), code)
