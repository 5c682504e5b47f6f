"""What an offline bundle holds (pure): its manifest, its SHA256SUMS, and whether it fits a config.

    manifest.json   {"format": 1, "onprem_version", "deployment", "config_digest", "created",
                     "files": {path: sha256}, "images": [{"name", "id", "size"}],
                     "images_member": {"name", "sha256", "size"}}
    SHA256SUMS      `sha256sum` lines for every other member, so `sha256sum -c SHA256SUMS` checks an
                    extracted copy without onprem
    bundle/<path>   the rendered files, without the state directory's identity (and never a secret)
    images.tar.gz   one `docker save` of every image (gzip level 1), or images.tar uncompressed

A bundle fits a config when it was made by the same onprem version for the same deployment, and its
rendered files are the ones this config renders: the config where it is deployed decides what runs (plan,
status and rollback compare against it), the bundle carries the images and is checked to be for it. The
one legitimate difference, the identity label of the state directory that deploys, is left out of both
sides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from onprem.bundle import digest

FORMAT = 1
"""The version of this layout; a reader refuses another."""
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
FILES_PREFIX = "bundle/"
IMAGES_GZIP = "images.tar.gz"
IMAGES_PLAIN = "images.tar"
IMAGE_MEMBERS = (IMAGES_GZIP, IMAGES_PLAIN)
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S.*)$")


@dataclass(frozen=True)
class BundleImage:
    """One image the bundle carries: its tag, its image ID and its bytes in the `docker save` stream."""

    name: str
    id: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """manifest.json of an offline bundle."""

    onprem_version: str
    deployment: str
    config_digest: str
    """One digest over the rendered files (`onprem.bundle.digest` of their hashes)."""
    created: str
    files: dict[str, str]
    """sha256 of every rendered file, by path relative to the bundle directory."""
    images: list[BundleImage]
    images_member: str
    images_sha256: str
    images_size: int
    format: int = FORMAT

    def image_ids(self) -> dict[str, str]:
        return {image.name: image.id for image in self.images}

    def member_hashes(self) -> dict[str, str]:
        """What SHA256SUMS must say of every member but the manifest itself."""
        hashes = {FILES_PREFIX + path: sha for path, sha in self.files.items()}
        hashes[self.images_member] = self.images_sha256
        return hashes

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "onprem_version": self.onprem_version,
            "deployment": self.deployment,
            "config_digest": self.config_digest,
            "created": self.created,
            "files": dict(sorted(self.files.items())),
            "images": [asdict(image) for image in self.images],
            "images_member": {
                "name": self.images_member,
                "sha256": self.images_sha256,
                "size": self.images_size,
            },
        }

    def to_text(self) -> str:
        return json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Manifest:
        """Parse manifest.json. Raises ValueError naming what is wrong (another format included)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this onprem reads format {FORMAT}")
        try:
            member = data["images_member"]
            manifest = cls(
                onprem_version=str(data["onprem_version"]),
                deployment=str(data["deployment"]),
                config_digest=str(data["config_digest"]),
                created=str(data["created"]),
                files={str(k): str(v) for k, v in dict(data["files"]).items()},
                images=[BundleImage(str(i["name"]), str(i["id"]), int(i["size"])) for i in data["images"]],
                images_member=str(member["name"]),
                images_sha256=str(member["sha256"]),
                images_size=int(member["size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a field is missing or malformed ({exc!r})") from None
        if manifest.images_member not in IMAGE_MEMBERS:
            raise ValueError(
                f"images member {manifest.images_member!r} is none of {', '.join(IMAGE_MEMBERS)}"
            )
        return manifest


def sums_text(hashes: Mapping[str, str]) -> str:
    """SHA256SUMS for {member: sha256}, in `sha256sum`'s own format (two spaces: text mode)."""
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(hashes.items()))


def parse_sums(text: str) -> dict[str, str]:
    """{member: sha256} from SHA256SUMS. Raises ValueError naming a malformed or repeated line."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _SUM_LINE.match(line)
        if match is None:
            raise ValueError(f"line {number} is not `<sha256>  <name>`")
        sha, name = match.groups()
        if name in sums:
            raise ValueError(f"line {number} names {name} a second time")
        sums[name] = sha
    return sums


def consistency_problems(manifest: Manifest, sums: Mapping[str, str]) -> list[str]:
    """Where the manifest and SHA256SUMS disagree about the members (pure; empty when they agree)."""
    expected = manifest.member_hashes()
    problems = [
        f"the manifest lists {name}, SHA256SUMS does not" for name in sorted(set(expected) - set(sums))
    ]
    problems += [
        f"SHA256SUMS lists {name}, the manifest does not"
        for name in sorted(set(sums) - set(expected) - {MANIFEST})
    ]
    problems += [
        f"the manifest says {name} has sha256 {expected[name]}, SHA256SUMS says {sums[name]}"
        for name in sorted(set(expected) & set(sums))
        if expected[name] != sums[name]
    ]
    if MANIFEST not in sums:
        problems.append(f"SHA256SUMS does not list {MANIFEST}")
    if digest(manifest.files) != manifest.config_digest:
        problems.append("its config digest is not the digest of the files it lists")
    return problems


def fit_problems(
    manifest: Manifest,
    *,
    version: str,
    deployment: str,
    files: Mapping[str, str],
    images: Sequence[str],
) -> list[str]:
    """Why a bundle does not fit this onprem `version` and config (pure; empty when it fits).

    `files`: sha256 of every file this config renders without an identity, by path; `images`: the images
    its stack needs."""
    if manifest.onprem_version != version:
        return [
            f"it was made by onprem {manifest.onprem_version}, this is onprem {version}: make the bundle "
            f"with onprem {version}, or deploy it with onprem {manifest.onprem_version}"
        ]
    if manifest.deployment != deployment:
        return [f"it is a bundle of deployment {manifest.deployment!r}, this config deploys {deployment!r}"]
    problems = []
    differ = sorted(p for p in set(files) | set(manifest.files) if files.get(p) != manifest.files.get(p))
    if differ:
        problems.append(
            f"its rendered files differ from what this config renders ({', '.join(differ)}): it was made "
            "from another onprem.yaml. Make the bundle again from this one; or, when the images already on "
            "the host serve this config, deploy without --bundle (`onprem plan` shows where they come from)"
        )
    carried = manifest.image_ids()
    lacking = [name for name in images if name not in carried]
    if lacking:
        problems.append(f"it does not carry {', '.join(lacking)}, which this config runs")
    return problems
