"""What `onprem residency` learns from the hosts, the client's API and the state directory (the facts),
and the pure readers of the probes' output: `stat`, `findmnt`, `lsblk`, `/sys/.../dm/uuid`,
`docker info`, `docker volume inspect` and `docker inspect`.

Every fact is a value, never a secret: file names, modes, owners, devices, URLs' origins. The probes'
argument vectors are built here too (pure), so the workflow only runs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onprem.errors import StateError

DETECTED = "dm-crypt/LUKS detected"
NOT_DETECTED = "not detected, attest"
"""The literal a compliance reviewer sees when onprem cannot prove encryption at rest: attest it."""
LOG_ADDRESS_OPTIONS = ("syslog-address", "fluentd-address", "gelf-address", "splunk-url", "awslogs-region")
"""Logging-driver options that say where logs go (never tokens: other options are not read)."""
SWARM_NAMESPACE = "com.docker.stack.namespace"
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_VOLUME = "com.docker.compose.volume"


@dataclass(frozen=True)
class Encryption:
    """Whether encryption at rest was detected on a path's backing device chain, and why."""

    detected: bool
    status: str
    """`DETECTED` or `NOT_DETECTED` (the literal "not detected, attest")."""
    layer: str | None
    """The crypt layer found, e.g. `luks-root (crypt)`."""
    evidence: str
    """What was looked at: the device chain, or why nothing could be looked at."""


def not_detected(evidence: str) -> Encryption:
    return Encryption(detected=False, status=NOT_DETECTED, layer=None, evidence=evidence)


@dataclass(frozen=True)
class PathFacts:
    """A path on a host: whether it exists, its mode and owner, the mount and device behind it."""

    path: str
    exists: bool | None
    """None: it could not be looked at (the host did not answer, or a probe failed)."""
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    mount: str | None = None
    device: str | None = None
    filesystem: str | None = None
    encryption: Encryption = field(default_factory=lambda: not_detected("not looked at"))
    files: tuple[tuple[str, str], ...] = ()
    """(name, mode) of the files a directory holds, when the class lists them (secrets, backups)."""
    error: str | None = None


@dataclass(frozen=True)
class VolumeFacts:
    """A named volume of the deployment on one host (`docker volume inspect`)."""

    name: str
    logical: str
    """The volume's name in the compose file (`mysqlData`, `whatsappMedia`, ...)."""
    driver: str
    path: PathFacts
    """At the volume's Mountpoint on the host."""


@dataclass(frozen=True)
class ContainerFacts:
    """One container of the deployment (`docker inspect`): its logging and its command's arguments."""

    name: str
    service: str
    log_driver: str
    log_path: str
    """Where the json-file/local driver writes (empty for other drivers)."""
    log_max_size: str | None
    log_max_file: str | None
    log_destination: str | None
    """Where a remote logging driver sends (its address option), None for local drivers."""
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostFacts:
    """One host of the deployment as it answered (or why it did not)."""

    name: str
    address: str
    reachable: bool
    error: str | None = None
    docker_root: str | None = None
    logging_driver: str | None = None
    server_version: str | None = None
    volumes: tuple[VolumeFacts, ...] = ()
    containers: tuple[ContainerFacts, ...] = ()
    log_dir: PathFacts | None = None
    """`<docker root>/containers`, where the json-file logs live."""
    secrets_copy: PathFacts | None = None
    """`<remote_dir>/<project>/secrets` on a host reached over SSH (None for this machine)."""


@dataclass(frozen=True)
class ClientFacts:
    """What the client's API answered: application settings and the users onprem knows of."""

    application: Mapping[str, Any] | None
    error: str | None
    users: tuple[tuple[str, str], ...] = ()
    """(username, role) of the admin and the users onprem created (the API lists no users)."""


@dataclass(frozen=True)
class LocalFacts:
    """The state directory on the machine that runs onprem."""

    state_dir: str
    secrets: PathFacts
    certs: PathFacts
    backups: PathFacts
    migration_file: PathFacts
    migration: Mapping[str, Any] | None
    """`migration.json` as written by `onprem migrate cloud`; None before a migration."""


@dataclass(frozen=True)
class Facts:
    hosts: tuple[HostFacts, ...]
    client: ClientFacts
    local: LocalFacts


# -- argument vectors (pure) ---------------------------------------------------------------------
def stat_argv(path: str) -> list[str]:
    return ["stat", "-c", "%a|%U|%G|%u|%g", path]


def findmnt_argv(path: str) -> list[str]:
    return ["findmnt", "-J", "-T", path, "-o", "TARGET,SOURCE,FSTYPE,MAJ:MIN"]


def lsblk_argv(device: str) -> list[str]:
    # -s: the device and what it sits on (a crypt layer under LVM shows up too).
    return ["lsblk", "-J", "-s", "-o", "NAME,TYPE,FSTYPE", device]


def dm_uuid_argv(maj_min: str) -> list[str]:
    return ["cat", f"/sys/dev/block/{maj_min}/dm/uuid"]


def list_files_argv(directory: str) -> list[str]:
    return ["find", directory, "-mindepth", "1", "-maxdepth", "1", "-type", "f", "-printf", "%f|%m\n"]


DOCKER_INFO_ARGV = ["docker", "info", "--format", "{{json .}}"]


def volume_list_argv(project: str) -> list[list[str]]:
    """Volumes of the deployment: compose's project label, or a Swarm stack's namespace label."""
    return [
        ["docker", "volume", "ls", "-q", "--filter", f"label={COMPOSE_PROJECT}={project}"],
        ["docker", "volume", "ls", "-q", "--filter", f"label={SWARM_NAMESPACE}={project}"],
    ]


def container_list_argv(project: str) -> list[list[str]]:
    return [
        ["docker", "ps", "-aq", "--filter", f"label={COMPOSE_PROJECT}={project}"],
        ["docker", "ps", "-aq", "--filter", f"label={SWARM_NAMESPACE}={project}"],
    ]


# -- readers of the probes' output (pure) --------------------------------------------------------
def parse_stat(out: str) -> tuple[str, str, str]:
    """(mode as 4 octal digits, `owner (uid N)`, `group (gid N)`) from `stat -c '%a|%U|%G|%u|%g'`: the
    host's names for a container's user can mislead, so the numbers come along. Raises StateError."""
    parts = out.strip().split("|")
    if len(parts) != 5 or not parts[0].isdigit():
        raise StateError(f"unexpected stat output {out.strip()[:80]!r}")
    return parts[0].rjust(4, "0"), f"{parts[1]} (uid {parts[3]})", f"{parts[2]} (gid {parts[4]})"


def parse_findmnt(out: str) -> tuple[str, str, str, str]:
    """(mount point, source, filesystem type, MAJ:MIN) from `findmnt -J`. Raises StateError."""
    try:
        found = json.loads(out)["filesystems"][0]
        return (str(found["target"]), str(found["source"]), str(found["fstype"]), str(found.get("maj:min")))
    except (ValueError, KeyError, IndexError, TypeError):
        raise StateError(f"unexpected findmnt output {out.strip()[:80]!r}") from None


def block_device(source: str) -> str | None:
    """The block device of a mount source: `/dev/vda[/var/lib/docker]` (a bind mount) is `/dev/vda`;
    None for what is no block device (overlay, tmpfs, `server:/export`)."""
    device = source.split("[", 1)[0]
    return device if device.startswith("/dev/") else None


def _chain(nodes: Sequence[Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for node in nodes:
        if isinstance(node, dict):
            flat.append(node)
            flat.extend(_chain(node.get("children") or []))
    return flat


def encryption_of(lsblk_out: str | None, dm_uuid: str | None, device: str) -> Encryption:
    """Encryption at rest of `device` from `lsblk -J -s` (a layer of TYPE crypt, or FSTYPE crypto_LUKS)
    and the device-mapper uuid of its top device (`CRYPT-...`)."""
    chain: list[dict[str, Any]] = []
    if lsblk_out:
        try:
            chain = _chain(json.loads(lsblk_out).get("blockdevices") or [])
        except (ValueError, AttributeError):
            chain = []
    seen = ", ".join(f"{n.get('name')} ({n.get('type')})" for n in chain) or "lsblk gave nothing"
    for node in chain:
        if node.get("type") == "crypt" or node.get("fstype") == "crypto_LUKS":
            fstype = f", {node['fstype']}" if node.get("fstype") else ""
            layer = f"{node.get('name')} ({node.get('type')}{fstype})"
            return Encryption(detected=True, status=DETECTED, layer=layer, evidence=f"{device}: {seen}")
    if dm_uuid and dm_uuid.strip().startswith("CRYPT-"):
        kind = dm_uuid.strip().split("-")[1] if dm_uuid.count("-") >= 2 else "CRYPT"
        return Encryption(
            detected=True,
            status=DETECTED,
            layer=f"{device} (dm {kind})",
            evidence=f"{device}: dm uuid CRYPT-",
        )
    return not_detected(f"{device}: {seen}; no crypt layer")


def parse_docker_info(out: str) -> tuple[str | None, str | None, str | None]:
    """(data root, default logging driver, server version) from `docker info --format '{{json .}}'`."""
    try:
        info = json.loads(out)
    except ValueError:
        return None, None, None
    if not isinstance(info, dict):
        return None, None, None
    return (info.get("DockerRootDir"), info.get("LoggingDriver"), info.get("ServerVersion"))


def logical_volume(doc: Mapping[str, Any], project: str) -> str:
    """A volume's name in the compose file: its compose label, else its name without `<project>_`."""
    labels = doc.get("Labels") or {}
    name = str(doc.get("Name", ""))
    return str(labels.get(COMPOSE_VOLUME) or name.removeprefix(f"{project}_"))


def container_facts(doc: Mapping[str, Any]) -> ContainerFacts:
    """One container's logging and arguments from its `docker inspect` document."""
    labels = (doc.get("Config") or {}).get("Labels") or {}
    log = (doc.get("HostConfig") or {}).get("LogConfig") or {}
    options = log.get("Config") or {}
    destination = next((f"{k}={options[k]}" for k in LOG_ADDRESS_OPTIONS if options.get(k)), None)
    service = labels.get("com.docker.compose.service") or labels.get("com.docker.swarm.service.name") or ""
    return ContainerFacts(
        name=str(doc.get("Name", "")).lstrip("/"),
        service=str(service),
        log_driver=str(log.get("Type", "")),
        log_path=str(doc.get("LogPath") or ""),
        log_max_size=options.get("max-size"),
        log_max_file=options.get("max-file"),
        log_destination=destination,
        args=tuple(str(a) for a in doc.get("Args") or ()),
    )


def parse_files(out: str) -> tuple[tuple[str, str], ...]:
    """(name, mode) pairs from `find -printf '%f|%m\\n'`, sorted by name."""
    pairs = []
    for line in out.splitlines():
        name, _, mode = line.rpartition("|")
        if name:
            pairs.append((name, mode.rjust(4, "0")))
    return tuple(sorted(pairs))
