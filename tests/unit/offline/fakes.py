"""Doubles for offline bundles: `docker save` streams in Docker's own layout, this machine's images, and a
host engine that loads streams and remembers what it holds."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from onprem.offline.saved import saved_images
from tests.unit.fakes import RecordingEngine

STACK = (
    "onprem-emulator/coreapp:v2.57.2",
    "onprem-emulator/web:v2.57.2",
    "onprem/mysql:8.0",
    "onprem/onprem:0.1.0",
)
BASE = b"base layer " * 500


def layers_of(name: str) -> list[bytes]:
    """A base layer every image shares, then one of its own."""
    return [BASE, f"layer of {name} ".encode() * 200]


def config_of(name: str, version: str = "1") -> bytes:
    return json.dumps({"tag": name, "version": version}).encode()


def image_id(name: str, version: str = "1") -> str:
    return "sha256:" + hashlib.sha256(config_of(name, version)).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_save(names: Sequence[str], version: str = "1") -> bytes:
    """A `docker save` of `names` as Docker writes it: each layer once (a shared one linked from the
    images after the first), a config per image, manifest.json at the end."""
    buffer = io.BytesIO()
    manifest = []
    stored: dict[str, str] = {}
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            paths = []
            for number, layer in enumerate(layers_of(name)):
                digest = hashlib.sha256(layer).hexdigest()
                path = f"{hashlib.sha256(f'{name}{number}'.encode()).hexdigest()}/layer.tar"
                if digest in stored:
                    link = tarfile.TarInfo(path)
                    link.type, link.linkname = tarfile.SYMTYPE, f"../{stored[digest]}"
                    tar.addfile(link)
                else:
                    _add(tar, path, layer)
                    stored[digest] = path
                paths.append(path)
            config = f"{image_id(name, version).removeprefix('sha256:')}.json"
            _add(tar, config, config_of(name, version))
            manifest.append({"Config": config, "RepoTags": [name], "Layers": paths})
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return buffer.getvalue()


@dataclass
class FakeImages:
    """This machine's images: `have` by name (all of the stack by default), saved in chunks."""

    have: tuple[str, ...] = STACK
    version: str = "1"
    saves: list[tuple[str, ...]] = field(default_factory=list)

    def ids(self, names: Sequence[str]) -> dict[str, str | None]:
        return {n: image_id(n, self.version) if n in self.have else None for n in names}

    def save(self, names: Sequence[str]) -> Iterator[bytes]:
        self.saves.append(tuple(names))
        data = docker_save(names, self.version)
        for at in range(0, len(data), 4096):
            yield data[at : at + 4096]


@dataclass
class LoadingEngine(RecordingEngine):
    """A host engine that holds `held` images (name -> ID) and takes more from `docker load` streams."""

    held: dict[str, str] = field(default_factory=dict)
    loads: int = 0
    broken_load: bool = False
    """Loads read the stream but keep nothing (a host whose engine tags otherwise)."""

    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        return {n: self.held.get(n) for n in names}

    def load_images(self, chunks: Iterable[bytes]) -> None:
        self.calls.append(("load_images",))
        self.loads += 1
        stream = io.BytesIO(b"".join(chunks))
        compressed = stream.getvalue()[:2] == b"\x1f\x8b"
        images = saved_images(stream, compressed=compressed)
        if not self.broken_load:
            self.held.update({name: image.id for name, image in images.items()})


def members(path: Path) -> list[tuple[str, bytes]]:
    """Every member of a tar file, in order."""
    with tarfile.open(path) as tar:
        found = []
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            found.append((member.name, handle.read() if handle else b""))
        return found


def repack(path: Path, parts: Sequence[tuple[str, bytes]]) -> None:
    """Write `parts` as the tar file at `path` (a bundle someone changed)."""
    with tarfile.open(path, "w") as tar:
        for name, data in parts:
            _add(tar, name, data)
