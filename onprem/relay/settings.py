"""Typed, frozen settings of the webhook relay sidecar, and the reading of its config file.

The lead nests `RelaySettings` under `relay:` in onprem.yaml and renders `model_dump(mode="json")` to
/etc/onprem/relay.yaml, which `onprem relay serve --config` reads back with `load_settings`. Every field has
a default, so an empty file is a working config for the bundled stack. Secrets are never values here: each
`*_file` field names a file (a compose secret under /run/secrets) that the relay reads at start.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from onprem.sidecar import load_section, parse_section, split_listen

DEFAULT_LISTEN = "127.0.0.1:8443"
DEFAULT_DATA_DIR = "/var/lib/onprem-relay"
SECRETS_DIR = "/run/secrets"

Seconds = Annotated[float, Field(gt=0, le=86400 * 30)]
EndpointName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


def _secret_path(name: str) -> str:
    # Compose mounts each secret as /run/secrets/<NAME>; the renderer derives NAME from the basename.
    return f"{SECRETS_DIR}/{name}"


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path (it is read inside the relay container)")
    return value


AbsPath = Annotated[str, AfterValidator(_absolute)]


def _check_url(value: str, schemes: tuple[str, ...], instead: str) -> str:
    """`value` if it is a URL of one of `schemes` with a host and no credentials. Raises ValueError."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError("must be a " + " or ".join(f"{scheme}://" for scheme in schemes) + " URL")
    if parts.username or parts.password:
        raise ValueError(f"must not carry credentials ({instead})")
    _ = parts.port  # raises ValueError on a bad port
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TlsSettings(_Model):
    """Serve the ingress over TLS (the On-Prem client only calls HTTPS webhook URLs)."""

    cert_file: AbsPath = _secret_path("RELAY_TLS_CERT")
    """PEM certificate chain of the relay's server certificate."""
    key_file: AbsPath = _secret_path("RELAY_TLS_KEY")
    """PEM private key of that certificate."""


class OnpremIngressSettings(_Model):
    """On-Premises client callbacks: POST /webhooks/onprem/<token>; trust from TLS plus the secret path."""

    enabled: bool = True
    path_token_file: AbsPath = _secret_path("RELAY_PATH_TOKEN")
    """File holding the secret path token (at least 16 characters)."""
    validate_shape: bool = True
    """Reject bodies that are not the documented flat contacts/messages/statuses/errors shape."""


class CloudIngressSettings(_Model):
    """Cloud API webhooks: GET /webhooks/cloud verification and POST signed with the app secret."""

    enabled: bool = False
    app_secret_file: AbsPath = _secret_path("RELAY_APP_SECRET")
    """File holding the Meta app secret that keys X-Hub-Signature-256."""
    verify_token_file: AbsPath = _secret_path("RELAY_VERIFY_TOKEN")
    """File holding the token Meta echoes in hub.verify_token when subscribing."""
    allow_legacy_sha1: bool = False
    """Also accept the legacy SHA-1 X-Hub-Signature when X-Hub-Signature-256 is absent."""


_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _host_name(value: str) -> str:
    """`value` if it is a fully qualified DNS name in lower case (no IP address, no wildcard)."""
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            "must be a fully qualified DNS name in lower case, e.g. relay.example.com (no IP address: "
            "a publicly trusted certificate and Meta's webhooks need a name)"
        )
    if labels[-1].isdigit():
        raise ValueError("must be a DNS name, not an IP address")
    return value


HostName = Annotated[str, AfterValidator(_host_name)]
Port = Annotated[int, Field(ge=1, le=65535)]


class ChainCertificateSettings(_Model):
    """The operator's own certificate: a PEM chain (server certificate first) and its private key.

    `onprem deploy` checks them as `certs upload` does (the chain verifies, the key matches, the SANs
    cover host_name, nothing expired); the relay only loads them, at start.
    """

    source: Literal["chain"]
    chain_file: AbsPath = _secret_path("RELAY_PUBLIC_CHAIN")
    """PEM chain: the server certificate, then its intermediates (a compose secret of that name)."""
    key_file: AbsPath = _secret_path("RELAY_PUBLIC_KEY")
    """PEM private key of the server certificate."""


class AcmeCertificateSettings(_Model):
    """A certificate from an ACME CA (RFC 8555, HTTP-01 answered by the relay), renewed by the relay."""

    source: Literal["acme"]
    directory_url: str = "https://acme-v02.api.letsencrypt.org/directory"
    """The CA's ACME directory (Let's Encrypt by default)."""
    email: Annotated[str, Field(pattern=r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$")] | None = None
    """Contact the CA writes to about expiry and incidents."""
    ca_file: AbsPath | None = None
    """PEM root to trust for the directory's HTTPS (a private ACME server); null: the system store."""
    renew_before_days: Annotated[float, Field(gt=0, le=365)] = 30.0
    """Renew when fewer days than this remain (or a third of the lifetime, for shorter certificates)."""
    state_dir: AbsPath = DEFAULT_DATA_DIR + "/acme"
    """Where the account key and the certificate are kept (mode 0600; in the relay's data volume)."""
    retry_min_seconds: Annotated[float, Field(gt=0, le=86400)] = 60.0
    """First wait after a failed issuance; doubled after each failure up to retry_max_seconds."""
    retry_max_seconds: Annotated[float, Field(gt=0, le=86400)] = 6 * 3600.0

    @field_validator("directory_url")
    @classmethod
    def _directory(cls, value: str) -> str:
        return _check_url(value, ("https",), "ACME accounts are keys, not URL credentials")

    @model_validator(mode="after")
    def _backoff(self) -> AcmeCertificateSettings:
        if self.retry_min_seconds > self.retry_max_seconds:
            raise ValueError("retry_min_seconds must not exceed retry_max_seconds")
        return self


class PublicSettings(_Model):
    """A public HTTPS face for Meta's webhooks: only /webhooks/cloud and /healthz, with a publicly trusted
    certificate, plus plain HTTP on http01_port for ACME challenges (everything else redirects)."""

    host_name: HostName
    """The name Meta calls (https://<host_name>/webhooks/cloud); the certificate must cover it."""
    port: Port = 443
    """HTTPS port, published on network.bind_address (or bind_address below)."""
    bind_address: str | None = None
    """Host address the public ports are published on; null: network.bind_address."""
    http01_port: Port = 80
    """Plain HTTP port: ACME HTTP-01 challenges, and a redirect to https for anything else."""
    certificate: Annotated[ChainCertificateSettings | AcmeCertificateSettings, Field(discriminator="source")]
    """`{source: chain, chain_file, key_file}` or `{source: acme, directory_url, email, ...}`."""

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)  # raises ValueError naming the bad address
        return value

    @model_validator(mode="after")
    def _ports(self) -> PublicSettings:
        if self.port == self.http01_port:
            raise ValueError(f"port and http01_port must differ (both are {self.port})")
        return self

    @property
    def acme(self) -> AcmeCertificateSettings | None:
        """The ACME settings, when the certificate comes from ACME."""
        cert = self.certificate
        return cert if isinstance(cert, AcmeCertificateSettings) else None


class LimitSettings(_Model):
    """Bounds on what one request may cost the relay."""

    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    """Largest body accepted, after gzip decoding too (larger: 413)."""
    read_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Time allowed to receive a whole body (slower senders get 408)."""
    keepalive_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 75.0
    """Idle time before a connection is closed; also bounds a sender that never finishes its headers."""


class RedisSettings(_Model):
    """The scale-out store: one Redis shared by every relay replica (read when `store.backend: redis`).

    Run Redis with `appendonly yes` and `appendfsync always` so that what it acknowledged survives a crash.
    """

    url: str | None = None
    """`redis://` or `rediss://` (TLS) URL, without credentials. Null: in the stack, a bundled Redis
    service (its password generated); for a standalone `onprem relay serve`, redis://127.0.0.1:6379/0."""
    password_file: AbsPath | None = None
    """File holding the Redis password (AUTH); null when Redis has none."""
    username: str | None = None
    """ACL user name (with password_file)."""
    key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = "onprem-relay"
    """Prefix of every key; relays sharing a prefix share events and deliveries."""
    consumer: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] | None = None
    """This replica's consumer name in the streams' groups; null: `<hostname>-<pid>`."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, ("redis", "rediss"), "use password_file")


class StoreSettings(_Model):
    """Where acknowledged events live until every endpoint has them."""

    backend: Literal["sqlite", "redis"] = "sqlite"
    """`sqlite`: embedded, one relay process per data_dir. `redis`: Redis Streams, several replicas."""
    data_dir: AbsPath = DEFAULT_DATA_DIR
    """Directory of the SQLite database (a volume: it must survive restarts)."""
    redis: RedisSettings = RedisSettings()
    lease_seconds: Annotated[float, Field(ge=1, le=86400)] | None = None
    """How long a delivery handed to a worker is withheld from others (a killed replica's deliveries are
    taken over after it); null: max(60 s, twice the longest endpoint timeout)."""
    max_batch: Annotated[int, Field(ge=1, le=100_000)] = 2048
    """Most operations grouped into one commit."""
    dedup_window_seconds: Annotated[float, Field(ge=0, le=86400 * 30)] = 86400.0
    """A body whose message/status ids were all seen within this window is acknowledged, not stored again."""
    retention_seconds: Seconds = 7 * 86400.0
    """Delivered events older than this are purged."""
    purge_interval_seconds: Seconds = 300.0


class EndpointSettings(_Model):
    """One downstream receiver; every event goes to every enabled endpoint (fan-out)."""

    name: EndpointName
    url: str
    secret_file: AbsPath | None = None
    """File holding Standard Webhooks secrets (`whsec_<base64>`, several space-separated while rotating);
    null sends the event unsigned."""
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    max_in_flight: Annotated[int, Field(ge=1, le=1024)] = 64
    """Concurrent requests to this endpoint."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value, ("http", "https"), "deliveries are authenticated by secret_file's signature")


class DeliverySettings(_Model):
    """Retry policy shared by every endpoint."""

    endpoints: list[EndpointSettings] = Field(default_factory=list)
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 15
    """Attempts before an event is dead-lettered for an endpoint."""
    max_age_seconds: Seconds = 3 * 86400.0
    """An event older than this is dead-lettered instead of retried."""
    backoff_base_seconds: Annotated[float, Field(gt=0, le=3600)] = 1.0
    backoff_max_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    retry_after_max_seconds: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    """Cap on a downstream's Retry-After."""
    poll_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often the store is checked for due retries when nothing new arrives."""

    @model_validator(mode="after")
    def _unique(self) -> DeliverySettings:
        names = [endpoint.name for endpoint in self.endpoints]
        if len(names) != len(set(names)):
            raise ValueError("endpoint names must be unique")
        if self.backoff_base_seconds > self.backoff_max_seconds:
            raise ValueError("backoff_base_seconds must not exceed backoff_max_seconds")
        return self


class RelaySettings(_Model):
    """Everything `onprem relay serve` needs; defaults fit the bundled compose stack."""

    enabled: bool = True
    """Run the relay service in the stack (read by the renderer; `serve` ignores it)."""
    replicas: Annotated[int, Field(ge=1, le=16)] = 1
    """Relay containers in the stack (read by the renderer); more than one needs `store.backend: redis`.
    They publish `network.relay_port` and the ports after it, one each."""
    listen: str = DEFAULT_LISTEN
    """HOST:PORT of the ingress, /healthz and /metrics (overridden by `serve --listen`)."""
    tls: TlsSettings | None = None
    """Serve HTTPS with these files; null serves plain HTTP."""
    public: PublicSettings | None = None
    """A public HTTPS listener for the Cloud ingress (Meta's webhooks); null: none."""
    onprem: OnpremIngressSettings = OnpremIngressSettings()
    cloud: CloudIngressSettings = CloudIngressSettings()
    limits: LimitSettings = LimitSettings()
    store: StoreSettings = StoreSettings()
    delivery: DeliverySettings = DeliverySettings()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value.strip()

    @model_validator(mode="after")
    def _replicas(self) -> RelaySettings:
        if self.replicas > 1 and self.store.backend != "redis":
            raise ValueError(
                f"replicas: {self.replicas} relays cannot share one SQLite store (one process per data_dir);"
                " set store.backend: redis"
            )
        return self

    @model_validator(mode="after")
    def _public(self) -> RelaySettings:
        if self.public is None:
            return self
        if not self.cloud.enabled:
            raise ValueError(
                "public serves the Cloud ingress only: set cloud.enabled: true (and its app secret)"
            )
        if self.public.acme is not None and self.replicas > 1:
            raise ValueError(
                "public.certificate.source: acme needs replicas: 1 (a challenge must be answered by the "
                "relay that asked for it); use source: chain with several replicas"
            )
        return self

    @model_validator(mode="after")
    def _lease(self) -> RelaySettings:
        lease = self.store.lease_seconds
        slowest = max((e.timeout_seconds for e in self.delivery.endpoints), default=0.0)
        if lease is not None and lease <= slowest:
            raise ValueError(
                f"store.lease_seconds ({lease:g}) must exceed the longest endpoint timeout ({slowest:g} s),"
                " or a delivery still in flight would be handed to another worker"
            )
        return self

    def secret_files(self) -> list[str]:
        """Every secret file the relay will read with these settings (TLS files included)."""
        files: list[str] = []
        if self.onprem.enabled:
            files.append(self.onprem.path_token_file)
        if self.cloud.enabled:
            files += [self.cloud.app_secret_file, self.cloud.verify_token_file]
        if self.tls is not None:
            files += [self.tls.cert_file, self.tls.key_file]
        if self.public is not None and isinstance(self.public.certificate, ChainCertificateSettings):
            files += [self.public.certificate.chain_file, self.public.certificate.key_file]
        files += [e.secret_file for e in self.delivery.endpoints if e.secret_file is not None]
        if self.store.backend == "redis" and self.store.redis.password_file is not None:
            files.append(self.store.redis.password_file)
        return files


def parse_settings(data: Any, *, origin: str = "<relay config>") -> RelaySettings:
    """Validate a plain mapping (None means empty). Raises ConfigError naming each bad field."""
    return parse_section(RelaySettings, "relay", data, origin)


def load_settings(path: Path) -> RelaySettings:
    """Read and validate the YAML config file at `path`. Raises ConfigError if unreadable or invalid."""
    return load_section(RelaySettings, "relay", path)
