"""The state directory of one deployment, `<state_dir>/<name>/`: every file and folder it holds, by name.

    secrets/            one file per secret (0700; files 0600), mounted as /run/secrets/NAME
    secrets-previous/   the value a running `onprem secrets rotate` replaced, until it is healthy (0600)
    bundle/             the rendered compose bundle of the last render
    ca.pem              the client's CA (and roots of an uploaded chain), pinned for every API call
    certs/              the internal CA and server certificates (`onprem certs issue`; keys 0600)
    registration.json   the pending registration request (`onprem register`, then `verify`)
    users.json          the API users onprem created
    backups/            archives `onprem backup` wrote without `-o`
    lock.json           the deployment's lock while a command changes it (holder, time, command; 0600)
    audit.jsonl         the audit log: one JSON line per command that changed the deployment (0600)
    identity.json       this state directory's identity, which its data volumes carry as a label
    migration.json      the record of `onprem migrate cloud` (phone_number_id, region, state)
    releases/, current.json   every deploy's release and the pointer to the running one (releases.py)

A remote host keeps its own lock.json and audit.jsonl, by the same names, in `<remote_dir>/<name>/`.

Nothing outside this module spells these names. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem.bundle import atomic_write
from onprem.errors import StateError

LOCK_FILE = "lock.json"
"""The lock's name, in the state directory and in each remote host's directory of the deployment."""
AUDIT_FILE = "audit.jsonl"
"""The audit log's name, in the state directory and in each remote host's directory of the deployment."""


def read_json(path: Path, what: str) -> Any:
    """The JSON document in `path`, None when the file does not exist. Raises StateError when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"{path} ({what}) is unreadable ({exc}); delete it to start over") from None


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Write `data` as JSON atomically (mode 0600 when `private`). Raises StateError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n", 0o600 if private else 0o644)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


def write_private(path: Path, data: bytes) -> None:
    """Write bytes to `path` with mode 0600 (created so, never wider). Raises StateError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class CertFiles:
    """`<state>/certs/`: PEM files by name; keys are 0600 inside a 0700 directory."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> str | None:
        """A file's text, None when it does not exist."""
        try:
            return self.path(name).read_text(encoding="ascii")
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str, private: bool = False) -> None:
        """Write atomically (0600 when `private`, else 0644). Raises StateError."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            atomic_write(self.path(name), text, 0o600 if private else 0o644)
        except OSError as exc:
            raise StateError(f"cannot write {self.path(name)}: {exc.strerror}") from None


@dataclass(frozen=True)
class StateDir:
    """The files and folders of one deployment's state directory (see the module docstring)."""

    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def previous_secrets(self) -> Path:
        return self.root / "secrets-previous"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def certs(self) -> CertFiles:
        return CertFiles(self.root / "certs")

    @property
    def registration_file(self) -> Path:
        return self.root / "registration.json"

    @property
    def migration_file(self) -> Path:
        """Progress of `onprem migrate cloud` (steps done, the Cloud phone number, its region)."""
        return self.root / "migration.json"

    @property
    def two_step_file(self) -> Path:
        """A salted scrypt hash of the two-step PIN `onprem two-step enable` set (never the PIN)."""
        return self.root / "two_step.json"

    @property
    def users_file(self) -> Path:
        return self.root / "users.json"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def audit_file(self) -> Path:
        return self.root / AUDIT_FILE

    @property
    def identity_file(self) -> Path:
        return self.root / "identity.json"

    def identity(self) -> dict[str, str] | None:
        """{"id", "created"} of this state directory, None before its first deploy."""
        data = read_json(self.identity_file, "the identity of this state directory")
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            return {"id": data["id"], "created": str(data.get("created", ""))}
        return None

    def identity_or_new(self) -> tuple[str, bool]:
        """(this state directory's identity, whether it is new and not written yet)."""
        found = self.identity()
        return (found["id"], False) if found else (uuid.uuid4().hex, True)

    def write_identity(self, identity: str, created: str) -> None:
        """Record the identity on first use (never replaced afterwards). Raises StateError."""
        if self.identity() is None:
            write_json(self.identity_file, {"id": identity, "created": created})

    def pin_ca(self, pem: bytes) -> None:
        """Make `pem` the pinned CA bundle (unchanged files are not rewritten). Raises StateError."""
        if self.ca_file.is_file() and self.ca_file.read_bytes() == pem:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(self.ca_file, pem.decode("ascii"), 0o644)
        except (OSError, UnicodeDecodeError) as exc:
            raise StateError(f"cannot write {self.ca_file}: {exc}") from None
