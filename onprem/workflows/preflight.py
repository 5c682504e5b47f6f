"""Checks before anything is touched: the data volumes belong to this state directory, and every image
the stack needs is on the host, will be copied there, or comes from a registry. Read-only, so `plan`
runs them too."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from onprem.config import EMULATOR_REGISTRY
from onprem.deployment import Deployment
from onprem.engine.base import VolumeState
from onprem.engine.hosts import HostsEngine
from onprem.errors import ConfigError, StateError
from onprem.hostfiles import HostFiles
from onprem.render import IDENTITY_LABEL


def foreign_volumes(volumes: Sequence[VolumeState], identity: str | None) -> list[VolumeState]:
    """Volumes labelled with another state directory's identity (pure). Unlabelled volumes predate
    identities and are adopted."""
    return [v for v in volumes if v.labels.get(IDENTITY_LABEL) not in (None, identity)]


def check_identity(deployment: Deployment) -> None:
    """Refuse when the project's data volumes were made by another state directory.

    Raises StateError naming the volumes, when and by which identity they were made, and the ways out."""
    found = deployment.state.identity()
    identity = found["id"] if found else None
    check_host_identity(deployment, identity)
    foreign = foreign_volumes(deployment.engine.volumes(deployment.project), identity)
    if not foreign:
        return
    listed = "; ".join(f"{v.name} (created {v.created} by {v.labels[IDENTITY_LABEL]})" for v in foreign)
    mine = f"identity {identity}" if identity else "no identity yet (it has never deployed)"
    raise StateError(
        f"the data of deployment {deployment.project} on this engine belongs to another state directory: "
        f"{listed}; {deployment.state.root} has {mine}. Nothing was changed. Ways out: point "
        "deployment.state_dir at the original state directory; or copy its secrets/ and identity.json "
        f"here (restore them from where you keep them); or delete that data with `onprem down --volumes` "
        "(the database, media and relay store are lost)"
    )


HOST_IDENTITY = "identity.json"
"""On each remote host, beside the deployment's bundle: the identity of the state directory that
deployed there."""


def remote_dirs(deployment: Deployment) -> list[HostFiles]:
    """The deployment's directory on each remote host (none for this machine's engine)."""
    engine = deployment.engine
    if isinstance(engine, HostsEngine):
        return list(engine.every_host_files(deployment.project))
    found = engine.host_files(deployment.project)
    return [] if found is None else [found]


def check_host_identity(deployment: Deployment, identity: str | None) -> None:
    """Refuse when a remote host's directory of the deployment was written by another state directory.
    Raises StateError naming the host and the way out."""
    for place in remote_dirs(deployment):
        raw = place.read(HOST_IDENTITY)
        if raw is None:
            continue
        try:
            theirs = json.loads(raw).get("id")
        except (ValueError, AttributeError):
            theirs = None
        if theirs != identity:
            raise StateError(
                f"{place.location}: deployment {deployment.project} there was deployed from another "
                f"state directory (identity {theirs}); {deployment.state.root} has "
                f"{identity or 'none yet'}. "
                "Nothing was changed. Point deployment.state_dir at the original, or remove that "
                "directory on the host once its stack is down"
            )


def mark_hosts(deployment: Deployment, identity: str, created: str) -> None:
    """Write this state directory's identity on each remote host that has none yet."""
    document = json.dumps({"id": identity, "created": created}).encode()
    for place in remote_dirs(deployment):
        if place.read(HOST_IDENTITY) is None:
            place.write(HOST_IDENTITY, document)


def has_registry(name: str) -> bool:
    """Whether an image name starts with a registry host (`registry.example.com/...`, `host:5000/...`)."""
    first, _, rest = name.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


@dataclass
class ImageCheck:
    """Where each image the stack needs comes from."""

    present: list[str] = field(default_factory=list)
    copy: list[str] = field(default_factory=list)
    pull: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    """Loaded onto the host from an offline bundle just now (they are `present` too)."""

    def notes(self) -> list[str]:
        lines = []
        if self.loaded:
            lines.append(f"images loaded from the bundle: {', '.join(self.loaded)}")
        if self.copy:
            lines.append(f"images to copy to the host: {', '.join(self.copy)}")
        if self.pull:
            lines.append(f"images the host pulls from their registry: {', '.join(self.pull)}")
        return lines


ImageCarrier = Callable[[Deployment, Sequence[str]], ImageCheck]
"""Brings the images a stack needs from elsewhere than this machine or a registry (an offline bundle):
given their names, puts on the host what it lacks; every name is then `present`, the ones it brought
`loaded` too. Raises ConfigError or EngineError."""


def check_images(deployment: Deployment, names: Sequence[str]) -> ImageCheck:
    """Say where every image comes from; refuse one that is neither there, copyable nor in a registry.

    Raises ConfigError naming the missing tags, the tags the host does have, and how to get them."""
    engine = deployment.engine
    on_host = engine.image_ids(names)
    missing = [name for name in names if on_host.get(name) is None]
    # Asked for every image: a remote host may hold a tag in another version than this machine's.
    copy = engine.images_to_copy(names)
    check = ImageCheck(
        present=[n for n in names if n not in missing],
        copy=copy,
        pull=[n for n in missing if n not in copy and has_registry(n)],
    )
    unavailable = [n for n in missing if n not in copy and not has_registry(n)]
    if unavailable:
        raise ConfigError([_unavailable(deployment, name) for name in unavailable])
    return check


def _unavailable(deployment: Deployment, name: str) -> str:
    repository, _, tag = name.rpartition(":")
    tags = deployment.engine.image_tags(repository)
    have = f"the host has {repository}:{', '.join(tags)}" if tags else f"the host has no {repository}"
    if repository.startswith(EMULATOR_REGISTRY + "/"):
        where = deployment.loaded.where("client", "version")
        how = (
            f"set client.version to a version the host has, or build this one here: "
            f'EMULATOR_VERSIONS="{tag}" bash scripts/images.sh'
        )
    else:
        where = deployment.loaded.where()
        how = "build it here with `make images`, or bring it with `docker load`"
    return f"{where}: image {name} is not on the host and no registry serves it ({have}); {how}"
