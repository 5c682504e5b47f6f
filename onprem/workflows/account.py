"""Two-step verification, API users and the smoke-test message: small workflows over the API client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from onprem.api.transport import ALREADY_EXISTS_CODES, is_not_found
from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError
from onprem.state import read_json, write_json
from onprem.workflows.pinrecord import forget_pin, record_pin
from onprem.workflows.registration import read_pin

ADMIN = "admin"


class TwoStepApi(Protocol):
    def enable_two_step(self, pin: str) -> None: ...

    def disable_two_step(self) -> None: ...


class UsersApi(Protocol):
    def create_user(self, username: str, password: str) -> None: ...

    def get_user(self, username: str) -> dict[str, Any]: ...

    def update_user(self, username: str, password: str) -> None: ...

    def delete_user(self, username: str) -> None: ...


def two_step(api: TwoStepApi, enable: bool, pin: str | None) -> str:
    """Enable (with `pin`) or disable two-step verification; both calls are idempotent on the client.

    Raises ConfigError when enabling without a PIN, ApiError when the client refuses.
    """
    if not enable:
        api.disable_two_step()
        return "disabled"
    if pin is None:
        raise ConfigError("two-step enable needs the 6-digit PIN: give it with --pin-file FILE")
    api.enable_two_step(pin)
    return "enabled"


def check_username(username: str) -> str:
    """The username if the client would accept it (4-32 characters). Raises ConfigError."""
    if not 4 <= len(username) <= 32 or any(ch.isspace() for ch in username):
        raise ConfigError(f"username {username!r}: must be 4-32 characters without spaces")
    return username


@dataclass
class UserRegistry:
    """`<state>/users.json`: the API users onprem created (the API has no endpoint that lists users)."""

    path: Path

    def names(self) -> list[str]:
        """The recorded user names. Raises StateError when the file is unreadable."""
        data = read_json(self.path, "the users onprem created")
        return sorted(str(n) for n in data) if isinstance(data, list) else []

    def save(self, names: list[str]) -> None:
        write_json(self.path, sorted(set(names)))


def create_user(api: UsersApi, registry: UserRegistry, username: str, password: str) -> str:
    """Create a user, or set its password when it exists: "created" or "updated". Raises ApiError."""
    check_username(username)
    try:
        api.create_user(username, password)
        outcome = "created"
    except ApiError as exc:
        if exc.code not in ALREADY_EXISTS_CODES and exc.status != 409:
            raise
        api.update_user(username, password)
        outcome = "updated"
    registry.save([*registry.names(), username])
    return outcome


def delete_user(api: UsersApi, registry: UserRegistry, username: str) -> str:
    """Delete a user: "deleted" or "absent". Raises ConfigError for `admin`, ApiError otherwise."""
    if username == ADMIN:
        raise ConfigError("the admin user cannot be deleted")
    try:
        api.delete_user(username)
        outcome = "deleted"
    except ApiError as exc:
        if not is_not_found(exc):
            raise
        outcome = "absent"
    registry.save([n for n in registry.names() if n != username])
    return outcome


def list_users(api: UsersApi, registry: UserRegistry) -> list[dict[str, Any]]:
    """`admin` and the users onprem created, each as the client reports it (`present: false` if gone)."""
    rows = []
    for name in [ADMIN, *[n for n in registry.names() if n != ADMIN]]:
        try:
            entry = api.get_user(name)
            rows.append(
                {"username": name, "present": True, "role": entry.get("ROLES", entry.get("roles", ""))}
            )
        except ApiError as exc:
            if not is_not_found(exc):
                raise
            rows.append({"username": name, "present": False, "role": ""})
    return rows


MAX_TEXT = 4096


class MessageApi(Protocol):
    def check_contacts(self, contacts: list[str]) -> list[dict[str, Any]]: ...

    def send_text(self, to: str, body: str, *, preview_url: bool = False) -> str: ...


def send_text(api: MessageApi, to: str, text: str) -> dict[str, str]:
    """Resolve `to` with /v1/contacts, send `text`; returns {"to", "wa_id", "id"}.

    Raises ConfigError for an empty or too long text or an invalid number, ApiError when sending fails.
    """
    if not text.strip():
        raise ConfigError("--text is empty; give the message body")
    if len(text) > MAX_TEXT:
        raise ConfigError(f"--text is {len(text)} characters; the client accepts at most {MAX_TEXT}")
    digits = "".join(ch for ch in to if ch.isdigit())
    if not 6 <= len(digits) <= 15:
        raise ConfigError(f"--to {to!r}: give a phone number with country code, e.g. +16315551234")
    contacts = api.check_contacts([f"+{digits}"])
    entry = contacts[0] if contacts else {}
    if entry.get("status") != "valid" or not entry.get("wa_id"):
        raise ApiError(
            f"POST /v1/contacts: {to} is not a WhatsApp user (status {entry.get('status', 'missing')!r})",
            endpoint="POST /v1/contacts",
        )
    wa_id = str(entry["wa_id"])
    return {"to": to, "wa_id": wa_id, "id": api.send_text(wa_id, text)}


def registry_for(deployment: Deployment) -> UserRegistry:
    return UserRegistry(deployment.state.users_file)


def set_two_step(deployment: Deployment, *, enable: bool, pin_file: Path | None) -> str:
    """`onprem two-step enable|disable` with the PIN read from `pin_file`. Raises as `two_step`."""
    pin = read_pin(pin_file, deployment.progress) if pin_file is not None else None
    outcome = two_step(deployment.api(), enable, pin)
    # Kept so that `migrate cloud` can check a PIN before the Cloud API sees it (a wrong one there takes
    # the On-Prem deployment down): a salted hash, never the PIN.
    if pin is not None and enable:
        record_pin(deployment.state.two_step_file, pin, deployment.now())
    else:
        forget_pin(deployment.state.two_step_file)
    return outcome
