"""Releases: every deploy's bundle and manifest, kept immutable in the state directory, and the pointer to
the one that runs.

    releases/<id>/bundle/...     the rendered files of the release, as deployed
    releases/<id>/release.json   the manifest: who, when, command, config digest, file and image digests,
                                 secret digests (hashes only), client version, services
    releases/<id>/failed.json    written once when the release failed its gate
    current.json                 {"release": id, "since": ..., "bootstrapped": bool}; switched atomically

A release directory is written under a temporary name and renamed into place, so it is complete or
absent. Pruning keeps the newest `keep` releases and never the one that runs or the one before it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from onprem.bundle import atomic_write
from onprem.errors import StateError
from onprem.state import StateDir, read_json, write_json

MANIFEST = "release.json"
FAILED = "failed.json"


@dataclass(frozen=True)
class Release:
    """One release's manifest."""

    id: str
    created: str
    by: str
    command: str
    config_digest: str
    client_version: str
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of every bundle file, by path."""
    images: dict[str, str | None] = field(default_factory=dict)
    """The image ID each image name had on the host when the release was made (None: not there)."""
    secrets: dict[str, str] = field(default_factory=dict)
    """sha256 of every secret's value, by name: only hashes, to tell a change."""
    services: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    """The compose profiles the release starts (`monitoring`)."""
    upgrade: dict[str, str] = field(default_factory=dict)
    """For a release made by `onprem upgrade`: from_version, to_version and the archive taken before."""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Release:
        """Raises KeyError/TypeError for a manifest that lacks a field."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def next_id(existing: list[str]) -> str:
    """The id after the highest numeric id (`0001` first), pure."""
    numbers = [int(i) for i in existing if i.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


class ReleaseStore:
    """The releases of one state directory."""

    def __init__(self, state: StateDir) -> None:
        self.root = state.root / "releases"
        self.current_file = state.root / "current.json"

    def ids(self) -> list[str]:
        """Every complete release, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / MANIFEST).is_file())

    def read(self, release_id: str) -> Release:
        """A release's manifest. Raises StateError when it is missing or unreadable."""
        data = read_json(self.root / release_id / MANIFEST, f"the manifest of release {release_id}")
        if not isinstance(data, dict):
            known = ", ".join(self.ids()) or "none"
            raise StateError(f"there is no release {release_id!r} (releases: {known})")
        try:
            return Release.from_json(data)
        except (KeyError, TypeError) as exc:
            raise StateError(f"the manifest of release {release_id} is incomplete ({exc})") from None

    def files(self, release_id: str) -> dict[str, str]:
        """The bundle files of a release, by path. Raises StateError when one is missing."""
        release = self.read(release_id)
        bundle = self.root / release_id / "bundle"
        try:
            return {path: (bundle / path).read_text(encoding="utf-8") for path in release.files}
        except OSError as exc:
            raise StateError(f"release {release_id} is incomplete ({exc})") from None

    def failure(self, release_id: str) -> str | None:
        """Why the release failed its gate, None when it did not."""
        data = read_json(self.root / release_id / FAILED, f"the failure of release {release_id}")
        return str(data.get("reason", "")) if isinstance(data, dict) else None

    def create(self, release: Release, files: Mapping[str, str]) -> Release:
        """Write a new release (bundle files and manifest) atomically; its id must be new.

        Raises StateError when it exists or cannot be written."""
        final = self.root / release.id
        if final.exists():
            raise StateError(f"release {release.id} already exists in {self.root}")
        tmp = self.root / f".{release.id}.tmp"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            for path, text in files.items():
                atomic_write(tmp / "bundle" / path, text)
            atomic_write(
                tmp / MANIFEST, json.dumps(release.as_json(), indent=2, sort_keys=True) + "\n", 0o600
            )
            tmp.rename(final)
        except OSError as exc:
            raise StateError(f"cannot write release {release.id} in {self.root}: {exc}") from None
        return release

    def mark_failed(self, release_id: str, reason: str) -> None:
        """Record once that a release failed its gate (the release itself stays as it was)."""
        path = self.root / release_id / FAILED
        if not path.exists():
            write_json(path, {"reason": reason})

    def current(self) -> dict[str, Any]:
        """The pointer to the running release ({} when nothing runs from this state directory)."""
        data = read_json(self.current_file, "the pointer to the running release")
        return data if isinstance(data, dict) and data.get("release") else {}

    def current_release(self) -> Release | None:
        pointer = self.current()
        return self.read(str(pointer["release"])) if pointer else None

    def set_current(self, release_id: str, *, since: str, bootstrapped: bool) -> None:
        """Switch the pointer atomically."""
        write_json(self.current_file, {"release": release_id, "since": since, "bootstrapped": bootstrapped})

    def clear_current(self) -> None:
        """Nothing runs any more (`onprem down`); the releases stay."""
        self.current_file.unlink(missing_ok=True)

    def previous(self, release_id: str) -> Release | None:
        """The newest release before `release_id` that did not fail its gate."""
        earlier = [i for i in self.ids() if i < release_id and self.failure(i) is None]
        return self.read(earlier[-1]) if earlier else None

    def last_healthy(self) -> Release | None:
        """The newest release that did not fail its gate."""
        healthy = [i for i in self.ids() if self.failure(i) is None]
        return self.read(healthy[-1]) if healthy else None

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest `keep` releases, never the running one or the one before it."""
        ids = self.ids()
        pointer = self.current().get("release")
        protected = {pointer}
        if pointer:
            before = self.previous(str(pointer))
            protected.add(before.id if before else None)
        doomed = [i for i in ids[: max(len(ids) - keep, 0)] if i not in protected]
        for release_id in doomed:
            shutil.rmtree(self.root / release_id, ignore_errors=True)
        return doomed
