"""Per-deployment state on disk: the layout of the state directory and the record of the last deploy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem.bundle import atomic_write
from onprem.errors import StateError

CA_PATH_IN_WEB = "/usr/local/waent/data/certs/external/ca.pem"


@dataclass(frozen=True)
class StateDir:
    """`<state_dir>/<deployment>/`: secrets/ (0700), bundle/, ca.pem, deployed.json."""

    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def record_file(self) -> Path:
        return self.root / "deployed.json"

    def read_record(self) -> dict[str, Any]:
        """The last successful deploy's record ({} when there was none)."""
        try:
            data = json.loads(self.record_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StateError(f"{self.record_file} is unreadable ({exc}); delete it to redeploy") from None
        return data if isinstance(data, dict) else {}

    def write_record(self, record: dict[str, Any]) -> None:
        """Record a successful deploy (mode 0600: it holds hashes of secrets)."""
        try:
            atomic_write(self.record_file, json.dumps(record, indent=2, sort_keys=True) + "\n", 0o600)
        except OSError as exc:
            raise StateError(f"cannot write {self.record_file}: {exc.strerror}") from None

    def clear_record(self) -> None:
        self.record_file.unlink(missing_ok=True)
