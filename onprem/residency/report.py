"""The residency report from the settings and the facts (pure): where each data class lives, whether
encryption at rest was detected there, its retention, who can read it and where it leaves the site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from onprem.cloud_settings import graph_url_of
from onprem.config import Settings
from onprem.residency.facts import Facts, HostFacts, PathFacts, not_detected
from onprem.residency.model import (
    DATA_CLASSES,
    SCHEMA_VERSION,
    THIS_MACHINE,
    Access,
    DataClass,
    Egress,
    HostSummary,
    Location,
    Readers,
    Report,
    Retention,
)
from onprem.residency.retention import (
    backups_retention,
    client_retention,
    logs_retention,
    prometheus_retention,
    relay_retention,
)

RELAY_SERVICE = "relay"
OUTSIDE = "outside the deployment's hosts: onprem cannot look at its disks"


def origin(url: str) -> str | None:
    """`scheme://host[:port]` of a URL: its path and query may carry a token, so they are never shown."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def _location(host: str, engine: str | None, kind: str, facts: PathFacts, **extra: Any) -> Location:
    access = Access(facts.mode, facts.owner, facts.group) if facts.mode is not None else None
    return Location(
        host=host,
        engine=engine,
        kind=kind,
        volume=extra.get("volume"),
        path=facts.path,
        exists=facts.exists,
        mount=facts.mount,
        device=facts.device,
        filesystem=facts.filesystem,
        encryption=facts.encryption,
        access=access,
        files=tuple(extra.get("files", ())) or tuple(f"{n} ({m})" for n, m in facts.files),
        detail=extra.get("detail"),
        error=facts.error,
    )


def _outside(host: str, detail: str, kind: str = "external_service") -> Location:
    return Location(
        host=host,
        engine=None,
        kind=kind,
        volume=None,
        path=None,
        exists=None,
        mount=None,
        device=None,
        filesystem=None,
        encryption=not_detected(OUTSIDE),
        access=None,
        files=(),
        detail=detail,
        error=None,
    )


class _Builder:
    def __init__(self, settings: Settings, facts: Facts) -> None:
        self.settings = settings
        self.facts = facts
        self.project = settings.deployment.name
        self.engine = "docker-swarm" if settings.deployment.target == "swarm" else "docker"
        self.application: Mapping[str, Any] = facts.client.application or {}

    def volumes(self, *logical: str) -> list[Location]:
        """Every host's copy of the named volumes; a placeholder when none was found."""
        found = [
            _location(
                host.name, self.engine, "volume", v.path, volume=v.name, detail=f"{v.logical} ({v.driver})"
            )
            for host in self.facts.hosts
            for v in host.volumes
            if v.logical in logical
        ]
        if found:
            return found
        answered = [h.name for h in self.facts.hosts if h.reachable]
        why = "not found on " + (", ".join(answered) if answered else "any host (none answered)")
        return [
            Location(
                host="?",
                engine=self.engine,
                kind="volume",
                volume=f"{self.project}_{logical[0]}",
                path=None,
                exists=False if answered else None,
                mount=None,
                device=None,
                filesystem=None,
                encryption=not_detected("the volume was not found"),
                access=None,
                files=(),
                detail=None,
                error=why,
            )
        ]

    def webhook_egress(self) -> list[Egress]:
        webhooks = self.application.get("webhooks")
        url = webhooks.get("url") if isinstance(webhooks, Mapping) else None
        if not url:
            note = "no webhook URL set" if self.facts.client.application is not None else "unknown: no API"
            return [Egress("client webhook", None, note)]
        where = origin(str(url))
        host = urlsplit(str(url)).hostname or ""
        note = (
            "the deployment's own relay (stays on site; see relay_events)"
            if host == RELAY_SERVICE
            else "callbacks carry message content and contacts"
        )
        return [Egress("client webhook", where, note)]

    def cloud_egress(self) -> list[Egress]:
        migration = self.facts.local.migration
        if migration is None:
            return []
        region, _state = migration_summary(migration)
        # Where the tool itself sends the Cloud API calls: Meta's Graph API, or another (the emulator).
        graph = graph_url_of(self.settings.cloud, self.settings.network.bind_address)
        return [Egress("Cloud API", graph, f"after migration; data_localization_region {region or 'none'}")]

    def api_readers(self) -> Readers:
        users = tuple({"username": u, "role": r} for u, r in self.facts.client.users)
        notes = ("API users read messages' statuses, contacts and media through the client's API",)
        return Readers(api_users=users if self.facts.client.application is not None else None, notes=notes)

    # -- the data classes ----------------------------------------------------------------------
    def client_db(self) -> list[Location]:
        db = self.settings.db
        if db.external is None:
            return self.volumes("postgresData" if db.kind == "postgres" else "mysqlData")
        host = db.external.host
        where = "the Docker host itself" if host == "host-gateway" else host
        return [_outside(host, f"{db.external.kind} at {where}:{db.external.port} (db.external)")]

    def messages_contacts(self) -> dict[str, Any]:
        whatsapp = Egress(
            "WhatsApp network", None, "end-to-end encrypted messages to and from WhatsApp users"
        )
        return {
            "locations": self.client_db(),
            "retention": client_retention(self.application, self.facts.client.error, "messages"),
            "readers": self._db_readers(),
            "egress": [whatsapp, *self.webhook_egress(), *self.cloud_egress()],
        }

    def _db_readers(self) -> Readers:
        api = self.api_readers()
        db = self.settings.db
        account = db.external.username if db.external is not None else db.username
        note = f"database account {account} (password in secrets: WA_DB_PASSWORD)"
        return Readers(api.api_users, (*api.notes, note))

    def media(self) -> dict[str, Any]:
        whatsapp = Egress("WhatsApp network", None, "media sent to and downloaded from WhatsApp users")
        return {
            "locations": self.volumes("whatsappMedia"),
            "retention": client_retention(self.application, self.facts.client.error, "media"),
            "readers": self.api_readers(),
            "egress": [whatsapp, *self.webhook_egress(), *self.cloud_egress()],
        }

    def callback_queue(self) -> dict[str, Any]:
        return {
            "locations": self.client_db(),
            "retention": client_retention(self.application, self.facts.client.error, "callbacks"),
            "readers": self._db_readers(),
            "egress": self.webhook_egress(),
        }

    def relay_store(self) -> list[Location]:
        store = self.settings.relay.store
        if store.backend == "sqlite":
            return self.volumes("relayData")
        if store.redis.url is None:
            return self.volumes("redisData")
        where = origin(store.redis.url) or "redis"
        return [_outside(urlsplit(store.redis.url).hostname or "redis", f"Redis at {where}")]

    def relay_egress(self) -> list[Egress]:
        endpoints = self.settings.relay.delivery.endpoints
        if not endpoints:
            return [Egress("relay endpoints", None, "none configured: events stay in the relay's store")]
        return [
            Egress(f"relay endpoint {e.name}", origin(e.url), "signed" if e.secret_file else "unsigned")
            for e in endpoints
        ]

    def relay(self, dead: bool) -> dict[str, Any]:
        relay = self.settings.relay
        notes = ["relay.enabled is false: no relay runs"] if not relay.enabled else []
        return {
            "present": relay.enabled,
            "locations": self.relay_store() if relay.enabled else [],
            "retention": relay_retention(relay, dead),
            "readers": Readers(None, ("the relay container; `onprem relay dlq list` on this machine",)),
            "egress": self.relay_egress() if relay.enabled else [],
            "notes": notes,
        }

    def backups(self) -> dict[str, Any]:
        local = self.facts.local.backups
        archives = [n for n, _m in local.files if n.endswith(".onprem-backup")]
        return {
            "locations": [_location(THIS_MACHINE, None, "directory", local)],
            "retention": backups_retention(len(archives)),
            "readers": Readers(None, ("whoever holds secrets.backup_password (archives are encrypted)",)),
            "egress": [
                Egress("operator copies", None, "archives written with `-o` elsewhere are not listed")
            ],
        }

    def container_logs(self) -> dict[str, Any]:
        locations = []
        for host in self.facts.hosts:
            if host.log_dir is None:
                continue
            files = [f"{c.name}: {c.log_path or c.log_driver}" for c in host.containers]
            locations.append(_location(host.name, self.engine, "log_files", host.log_dir, files=files))
        egress = [
            Egress(f"logging driver {c.log_driver}", c.log_destination, f"container {c.name}")
            for host in self.facts.hosts
            for c in host.containers
            if c.log_destination
        ]
        return {
            "locations": locations,
            "retention": logs_retention(self.facts.hosts),
            "readers": Readers(None, ("root and the docker group on each host (`docker logs`)",)),
            "egress": egress,
        }

    def prometheus(self) -> dict[str, Any]:
        enabled = self.settings.monitoring.enabled
        found = [h for h in self.facts.hosts for v in h.volumes if v.logical == "prometheusData"]
        return {
            "present": enabled or bool(found),
            "locations": self.volumes("prometheusData") if enabled or found else [],
            "retention": prometheus_retention(self.facts.hosts),
            "readers": Readers(None, (f"anyone who reaches port {self.settings.network.prometheus_port}",)),
            "egress": [],
            "notes": [] if enabled else ["monitoring.enabled is false: no Prometheus runs"],
        }

    def secrets(self) -> dict[str, Any]:
        local = self.facts.local
        locations = [
            _location(
                THIS_MACHINE, None, "directory", local.secrets, detail="secrets/ (mounted as /run/secrets)"
            ),
        ]
        if local.certs.exists is not False:  # only after `onprem certs issue` or `certs upload`
            locations.append(
                _location(THIS_MACHINE, None, "directory", local.certs, detail="certs/ (CA and server keys)")
            )
        remote = {h.name: h for h in self.settings.hosts if h.address != "local"}
        for host in self.facts.hosts:
            if host.name not in remote:
                continue
            copy = host.secrets_copy or PathFacts(
                path=f"{remote[host.name].remote_dir.rstrip('/')}/{self.project}/secrets",
                exists=None,
                error=host.error or "not looked at",
            )
            locations.append(_location(host.name, None, "directory", copy, detail="the host's copy"))
        locations += self.volumes("waentData")
        notes = ["waentData holds the web endpoint's TLS key and certificates"]
        if self.engine == "docker-swarm":
            notes.append(
                "with target swarm, secrets are also kept in the Swarm's Raft log (encrypted by Docker)"
            )
        return {
            "locations": locations,
            "retention": Retention("kept until rotated (`onprem secrets rotate`)", {}),
            "readers": Readers(None, ("each file's owner (modes above; secret files are 0600)",)),
            "egress": [Egress(f"host {h.name}", h.address, "copied over SSH") for h in remote.values()],
            "notes": notes,
        }

    def cloud_region(self) -> dict[str, Any]:
        local = self.facts.local
        migration = local.migration
        if migration is None:
            return {
                "present": False,
                "locations": [_location(THIS_MACHINE, None, "file", local.migration_file)],
                "retention": Retention("not migrated", {}),
                "readers": Readers(None, ()),
                "egress": [],
                "notes": ["not migrated: no migration.json in the state directory"],
            }
        region, state = migration_summary(migration)
        detail = f"data_localization_region {region}" if region else "no data_localization_region"
        return {
            "locations": [
                _outside("Meta Cloud API", detail, kind="cloud"),
                _location(THIS_MACHINE, None, "file", local.migration_file, detail="the migration's record"),
            ],
            "retention": Retention(
                f"Meta's Cloud API retention; message content at rest in {region or 'Meta data centres'}",
                {"region": region},
            ),
            "readers": Readers(None, ("holders of the Cloud API system-user token",)),
            "egress": self.cloud_egress(),
            "notes": [f"migration state: {state}"],
        }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def migration_summary(record: Mapping[str, Any]) -> tuple[str | None, str]:
    """The region and the state of a migration from `migration.json` as `onprem migrate cloud` writes it
    (the register step records the region; `completed` is set at the end), pure."""
    steps = _mapping(record.get("steps"))
    register, status = _mapping(steps.get("register")), _mapping(steps.get("cloud_status"))
    region = record.get("region") or register.get("region") or status.get("region")
    if record.get("completed"):
        state = f"completed {record['completed']}"
    elif steps:
        state = f"in progress: {', '.join(steps)} done"
    else:
        state = str(record.get("state") or "started")
    return (str(region) if region else None), state


def _migration(record: Mapping[str, Any]) -> dict[str, Any]:
    region, state = migration_summary(record)
    return {"phone_number_id": record.get("phone_number_id"), "region": region, "state": state}


def _data_class(name: str, description: str, part: Mapping[str, Any], lost: list[str]) -> DataClass:
    return DataClass(
        name=name,
        description=description,
        present=bool(part.get("present", True)),
        locations=tuple(part["locations"]),
        retention=part["retention"],
        readers=part["readers"],
        egress=tuple(part["egress"]),
        notes=(*part.get("notes", ()), *lost),
    )


def _hosts(hosts: Iterable[HostFacts]) -> tuple[HostSummary, ...]:
    return tuple(
        HostSummary(
            h.name, h.address, h.reachable, h.error, h.docker_root, h.logging_driver, h.server_version
        )
        for h in hosts
    )


def build_report(settings: Settings, facts: Facts, generated_at: str) -> Report:
    """The report (pure): one entry per data class of `DATA_CLASSES`, in that order."""
    builder = _Builder(settings, facts)
    parts = {
        "messages_contacts": builder.messages_contacts,
        "media": builder.media,
        "callback_queue": builder.callback_queue,
        "relay_events": lambda: builder.relay(dead=False),
        "relay_dead_letters": lambda: builder.relay(dead=True),
        "backups": builder.backups,
        "container_logs": builder.container_logs,
        "prometheus_data": builder.prometheus,
        "secrets": builder.secrets,
        "cloud_region": builder.cloud_region,
    }
    migration = facts.local.migration
    lost = [
        f"host {h.name} did not answer: what it holds is not listed" for h in facts.hosts if not h.reachable
    ]
    return Report(
        schema_version=SCHEMA_VERSION,
        generated_at=generated_at,
        deployment=settings.deployment.name,
        target=settings.deployment.target,
        state_dir=facts.local.state_dir,
        hosts=_hosts(facts.hosts),
        api={"reachable": facts.client.error is None, "error": facts.client.error},
        migration=None if migration is None else _migration(migration),
        data_classes=tuple(_data_class(n, d, parts[n](), lost) for n, d in DATA_CLASSES),
    )
