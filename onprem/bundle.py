"""The rendered bundle on disk: atomic writes, content hashes and the diff against what is there.

Each file is written to a temporary name and renamed over the old one, so a reader (or a crash) never
sees half a file; the manifest is written last, so it always describes complete files. Files of the
previous render that the new one lacks are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from onprem.errors import StateError

COMPOSE_FILE = "compose.yaml"
"""The bundle's compose file, by the one name every part uses."""
MANIFEST = ".manifest.json"
EXECUTABLE = {"secret-env.sh"}


@dataclass(frozen=True)
class BundleDiff:
    """What a new render changes in a bundle directory."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def file_hashes(files: Mapping[str, str]) -> dict[str, str]:
    """sha256 of every file, by path (pure)."""
    return {path: hashlib.sha256(text.encode("utf-8")).hexdigest() for path, text in sorted(files.items())}


def digest(hashes: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str:
    """One hash over a bundle's file hashes (and optional extra inputs such as secrets), order-free."""
    material = json.dumps(
        {"files": dict(sorted(hashes.items())), "extra": dict(sorted((extra or {}).items()))}
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> BundleDiff:
    """Compare two {path: hash} manifests (pure)."""
    return BundleDiff(
        added=sorted(set(new) - set(old)),
        changed=sorted(p for p in set(new) & set(old) if new[p] != old[p]),
        removed=sorted(set(old) - set(new)),
    )


def read_manifest(directory: Path) -> dict[str, str]:
    """The {path: hash} manifest of a bundle directory; empty when there is none or it is unreadable."""
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` through a temporary file and a rename. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_bundle(directory: Path, files: Mapping[str, str]) -> BundleDiff:
    """Bring `directory` to exactly `files`, touching only what changed; returns the diff.

    Raises StateError when the directory cannot be written.
    """
    new = file_hashes(files)
    old = read_manifest(directory)
    changes = diff(old, new)
    missing = [p for p in new if p not in changes.added and not (directory / p).is_file()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path in sorted({*changes.added, *changes.changed, *missing}):
            atomic_write(directory / path, files[path], 0o755 if path in EXECUTABLE else 0o644)
        for path in changes.removed:
            (directory / path).unlink(missing_ok=True)
        atomic_write(directory / MANIFEST, json.dumps(new, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise StateError(f"cannot write the bundle in {directory}: {exc.strerror}") from None
    return changes
