"""The residency report's shape: typed, frozen, and turned into JSON with a fixed key order.

Bump `SCHEMA_VERSION` when a key is renamed or removed or its meaning changes; adding a key is
backwards compatible and keeps the version. The README's "Data residency" section documents each key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from onprem.residency.facts import Encryption

SCHEMA_VERSION = 1
THIS_MACHINE = "this-machine"
"""The host name of the machine that runs onprem (its state directory), beside the config's hosts."""

DATA_CLASSES: tuple[tuple[str, str], ...] = (
    ("messages_contacts", "Messages and contacts, in the client's database"),
    ("media", "Media files the client received or sent (the media volume)"),
    ("callback_queue", "Callbacks (webhook events) the client queues until its webhook acknowledges them"),
    ("relay_events", "Webhook events the relay acknowledged, kept until delivered and past retention"),
    ("relay_dead_letters", "Deliveries the relay gave up on, kept until replayed"),
    ("backups", "Archives of `onprem backup`: settings, database dump and media, encrypted"),
    ("container_logs", "The containers' output, as the engine's logging driver keeps it"),
    ("prometheus_data", "Prometheus time series of the deployment's metrics (no message content)"),
    ("secrets", "Passwords, the API key, tokens and private keys"),
    ("cloud_region", "Message content at rest on Meta's Cloud API after `onprem migrate cloud`"),
)
"""Every data class, in report order, with its description."""


@dataclass(frozen=True)
class Access:
    """Who can read a path on its host: its mode and owner."""

    mode: str | None
    owner: str | None
    group: str | None


@dataclass(frozen=True)
class Location:
    """One place a data class lives. Keys are always present (null where they do not apply)."""

    host: str
    """A host of the config, `this-machine` (the state directory), or an outside service's name."""
    engine: str | None
    """`docker` or `docker-swarm` for what the engine holds; null for plain files and outside services."""
    kind: str
    """`volume`, `directory`, `file`, `log_files`, `external_service` or `cloud`."""
    volume: str | None
    path: str | None
    """The path on the host (a volume's Mountpoint); null for outside services."""
    exists: bool | None
    """Whether the path exists there; null when it could not be looked at."""
    mount: str | None
    device: str | None
    filesystem: str | None
    encryption: Encryption
    access: Access | None
    files: tuple[str, ...]
    """File names (never contents) the location holds, where the class lists them: `NAME (mode)`."""
    detail: str | None
    error: str | None


@dataclass(frozen=True)
class Retention:
    summary: str
    settings: dict[str, Any]
    """The settings the summary was read from, by their names in the client API or onprem.yaml."""


@dataclass(frozen=True)
class Egress:
    """A way the data leaves the site (or the host): to whom, where (an origin, never a path that could
    carry a token), and a note."""

    to: str
    endpoint: str | None
    note: str


@dataclass(frozen=True)
class Readers:
    api_users: tuple[dict[str, str], ...] | None
    """Client API users who can read the data through the API (null where the API does not serve it)."""
    notes: tuple[str, ...]


@dataclass(frozen=True)
class DataClass:
    name: str
    description: str
    present: bool
    """False when the deployment has no such data (no relay, monitoring off, not migrated)."""
    locations: tuple[Location, ...]
    retention: Retention
    readers: Readers
    egress: tuple[Egress, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class HostSummary:
    name: str
    address: str
    reachable: bool
    error: str | None
    docker_root: str | None
    logging_driver: str | None
    server_version: str | None


@dataclass(frozen=True)
class Report:
    schema_version: int
    generated_at: str
    deployment: str
    target: str
    state_dir: str
    hosts: tuple[HostSummary, ...]
    api: dict[str, Any]
    migration: dict[str, Any] | None
    data_classes: tuple[DataClass, ...]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_document(report: Report) -> dict[str, Any]:
    """The report as one JSON-ready document, keys sorted at every level (data classes keep their
    report order as a list), so two reviews' documents diff line by line."""
    document: dict[str, Any] = _plain(asdict(report))
    return document
