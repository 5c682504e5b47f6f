"""An offline bundle file: written atomically, read back member by member with every byte checked.

The file is a plain tar (so `tar xf` and `sha256sum -c SHA256SUMS` work without onprem) whose members
come in this order: manifest.json, SHA256SUMS, bundle/<path>..., the images member, so a reader knows
what a bundle is for before it reaches the large part. It is written to a temporary name in the target's
directory and renamed into place, mode 0644: it holds no secret. `verify` reads all of it once (the
images member through gzip and tar, to see which images it really holds) before anything uses it;
`image_chunks` then reads the images member again, as stored, for `docker load`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from onprem.errors import ConfigError
from onprem.offline.manifest import (
    FILES_PREFIX,
    IMAGE_MEMBERS,
    IMAGES_GZIP,
    MANIFEST,
    SUMS,
    BundleImage,
    Manifest,
    consistency_problems,
    parse_sums,
    sums_text,
)
from onprem.offline.saved import CHUNK, HashingReader, HashingWriter, Truncated, saved_images

MAX_SMALL = 16 << 20
"""The largest manifest, SHA256SUMS or rendered file a bundle may hold (onprem writes a few KiB)."""
UNCHANGED = "nothing was changed"


@dataclass(frozen=True)
class Verified:
    """A bundle file read back whole and found intact and consistent."""

    path: Path
    manifest: Manifest
    files: dict[str, str]
    """The rendered files it carries, by path relative to the bundle directory."""
    sha256: str
    """Of the whole file, as read."""
    size: int


def _member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info


def write(path: Path, manifest: Manifest, files: Mapping[str, str], images: Path, *, mtime: int) -> str:
    """Write the bundle file at `path` atomically from its parts (`images`: the images member as
    `saved.pack` wrote it); its sha256. Raises ConfigError when the file cannot be written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    manifest_bytes = manifest.to_text().encode("utf-8")
    hashes = {**manifest.member_hashes(), MANIFEST: hashlib.sha256(manifest_bytes).hexdigest()}
    small = [(MANIFEST, manifest_bytes), (SUMS, sums_text(hashes).encode("ascii"))]
    small += [(FILES_PREFIX + p, text.encode("utf-8")) for p, text in sorted(files.items())]
    try:
        with tmp.open("wb") as raw:
            writer = HashingWriter(raw)
            with tarfile.open(fileobj=cast(IO[bytes], writer), mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for name, data in small:
                    tar.addfile(_member(name, len(data), mtime), _BytesReader(data))
                with images.open("rb") as source:
                    tar.addfile(_member(manifest.images_member, manifest.images_size, mtime), source)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the bundle {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return writer.hexdigest()


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def read(self, size: int = -1, /) -> bytes:
        end = len(self._data) if size < 0 else self._at + size
        piece = self._data[self._at : end]
        self._at += len(piece)
        return piece


def verify(path: Path) -> Verified:
    """Read the whole bundle: every member against SHA256SUMS, SHA256SUMS against the manifest, the
    manifest's images against what the images member holds. Raises ConfigError naming the file and each
    member at fault (a missing, cut-short, corrupt or unexpected one, or a manifest that lies)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read the bundle {path}: {exc.strerror or exc}") from None
    whole = HashingReader(handle)
    read = _Read()
    with handle:
        _read_members(path, whole, read)
    problems = _member_problems(read)
    if problems:
        raise _refused(path, problems)
    try:
        manifest = Manifest.from_text(read.small[MANIFEST].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refused(path, [f"its {MANIFEST} is unreadable: {exc}"]) from None
    problems = [f"the manifest lies: {p}" for p in consistency_problems(manifest, read.sums)]
    problems += _image_problems(manifest, read)
    if problems:
        raise _refused(path, problems)
    try:
        files = {
            name.removeprefix(FILES_PREFIX): data.decode("utf-8")
            for name, data in read.small.items()
            if name.startswith(FILES_PREFIX)
        }
    except UnicodeDecodeError:
        raise _refused(path, ["a rendered file is not UTF-8 text"]) from None
    return Verified(path, manifest, files, whole.hexdigest(), whole.count)


@dataclass
class _Read:
    """What one pass over a bundle file found."""

    hashes: dict[str, str] = field(default_factory=dict)
    """sha256 of every member, in the file's order."""
    small: dict[str, bytes] = field(default_factory=dict)
    """The content of every member but the images."""
    sums: dict[str, str] = field(default_factory=dict)
    images: dict[str, BundleImage] | None = None
    images_problem: str = ""
    sums_problem: str = ""


def _read_members(path: Path, whole: HashingReader, read: _Read) -> None:
    current: str | None = None
    try:
        with tarfile.open(fileobj=cast(IO[bytes], whole), mode="r|*") as tar:
            for member in tar:
                current = member.name
                _read_member(path, tar, member, read)
                current = None
        whole.drain()
    except (Truncated, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        if current is not None:
            why = f"the file ends inside member {current} ({exc}): it was cut short; copy it again"
        elif read.hashes:
            why = f"the file is cut short after member {list(read.hashes)[-1]} ({exc}); copy it again"
        else:
            why = f"it is not an onprem bundle (not a tar file: {exc})"
        raise _refused(path, [why]) from None


def _read_member(path: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, read: _Read) -> None:
    name = member.name
    known = name in (MANIFEST, SUMS, *IMAGE_MEMBERS) or name.startswith(FILES_PREFIX)
    if not known or not member.isfile():
        raise _refused(path, [f"member {name} is not part of an onprem bundle"])
    if name in read.hashes:
        raise _refused(path, [f"member {name} appears twice"])
    if name not in IMAGE_MEMBERS and member.size > MAX_SMALL:
        raise _refused(path, [f"member {name} is {member.size} bytes, larger than any onprem writes"])
    handle = tar.extractfile(member)
    reader = HashingReader(handle if handle is not None else _BytesReader(b""))
    if name in IMAGE_MEMBERS:
        try:
            read.images = saved_images(reader, compressed=name == IMAGES_GZIP)
        except ValueError as exc:
            read.images_problem = f"member {name}: {exc}"
    else:
        read.small[name] = reader.read()
    reader.drain()
    read.hashes[name] = reader.hexdigest()
    if name == SUMS:
        try:
            read.sums = parse_sums(read.small[name].decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            read.sums_problem = f"its {SUMS} is malformed: {exc}"


def _member_problems(read: _Read) -> list[str]:
    for name in (MANIFEST, SUMS):
        if name not in read.hashes:
            return [f"it has no {name}: it is not an onprem bundle, or it was cut short"]
    if read.sums_problem:
        return [read.sums_problem]
    problems = []
    for name, expected in read.sums.items():
        if name not in read.hashes:
            problems.append(f"member {name} is missing (the file was cut short or repacked without it)")
        elif read.hashes[name] != expected:
            problems.append(
                f"member {name} is corrupt: its sha256 is {read.hashes[name]}, {SUMS} says {expected}"
            )
    problems += [f"member {n} is not in {SUMS}" for n in read.hashes if n not in read.sums and n != SUMS]
    return problems


def _image_problems(manifest: Manifest, read: _Read) -> list[str]:
    if read.images_problem:
        return [read.images_problem]
    held = read.images or {}
    problems = []
    for image in manifest.images:
        found = held.get(image.name)
        if found is None:
            problems.append(f"the manifest lists {image.name}, {manifest.images_member} does not hold it")
        elif found.id != image.id:
            problems.append(
                f"the manifest says {image.name} is {image.id}, {manifest.images_member} holds {found.id}"
            )
    return problems


def _refused(path: Path, problems: list[str]) -> ConfigError:
    """One line per problem, each naming the file; the last says that nothing was changed."""
    lines = [f"bundle {path}: {problem}" for problem in problems]
    lines[-1] += f"; {UNCHANGED}"
    return ConfigError(lines)


def image_chunks(verified: Verified) -> Iterator[bytes]:
    """The images member as stored (gzip stays gzip: `docker load` reads it), in chunks, read again from
    the file. Its last chunk is held back until the whole member hashes as verified, so a file changed
    since `verify` never reaches `docker load` complete. Raises ConfigError when it does not."""
    name = verified.manifest.images_member
    try:
        with verified.path.open("rb") as handle, tarfile.open(fileobj=handle, mode="r:*") as tar:
            source = tar.extractfile(tar.getmember(name))
            if source is None:
                raise KeyError(name)
            reader = HashingReader(source)
            held = reader.read(CHUNK)
            while held:
                chunk = reader.read(CHUNK)
                if not chunk and reader.hexdigest() != verified.manifest.images_sha256:
                    raise ConfigError(f"bundle {verified.path}: member {name} changed since it was verified")
                yield held
                held = chunk
    except (OSError, KeyError, Truncated, tarfile.TarError, EOFError, zlib.error) as exc:
        raise ConfigError(f"bundle {verified.path}: member {name} cannot be read again ({exc})") from None
