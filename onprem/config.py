"""Typed, frozen settings of one deployment, and their validation.

`parse_settings` is pure: a plain dict (merged from defaults, file, environment and flags) plus an origin
map in, a `Settings` out, or a `ConfigError` whose every line names the file, line, field and what would
be valid. `load_settings` adds the reading of the file and the environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from onprem.cloud_settings import CloudSettings
from onprem.config_source import (
    Origins,
    describe_error,
    from_env,
    from_flags,
    locate,
    merge,
    parse_yaml,
    valid_keys,
)
from onprem.errors import ConfigError
from onprem.exporter.settings import ExporterSettings
from onprem.hosts import HostSettings, Role, SwarmSettings, role_problems, swarm_limits, swarm_role_problems
from onprem.relay.settings import RelaySettings
from onprem.secret_settings import SecretsSettings

DEFAULT_CONFIG_NAME = "onprem.yaml"
EMULATOR_REGISTRY = "onprem-emulator"
VALID_SHARDS = (1, 2, 4, 8, 16, 32)

Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Model(BaseModel):
    """Base of every settings section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DeploymentSettings(Model):
    name: Name = "onprem"
    """Compose project name; also names the network, volumes and state directory."""
    state_dir: str = ".onprem"
    """Where secrets, the rendered bundle and deploy records live (relative to the config file)."""
    timeout_seconds: Annotated[int, Field(ge=10, le=3600)] = 300
    keep_releases: Annotated[int, Field(ge=2, le=100)] = 5
    target: Literal["compose", "swarm"] = "compose"
    """`compose`: one compose project per host; `swarm`: one stack on a Docker Swarm (see `swarm:`)."""
    """How many releases the state directory keeps (the running one and the one before always stay)."""
    """How long `deploy` waits for every service to be healthy and the API to answer."""


class ClientSettings(Model):
    image_registry: str = EMULATOR_REGISTRY
    """Registry holding `coreapp` and `web` images; `onprem-emulator` is the emulated client built locally."""
    version: str = "2.57.2"
    """The client version, as in the image tags (`v2.57.2`; `2.57.2` means the same)."""
    mode: Literal["single", "multiconnect"] = "single"
    shards: int = 1
    """Multiconnect shard count, one of 1, 2, 4, 8, 16, 32 (coreapps = shards + 1)."""
    web_servername: str = "localhost"
    """Server name of the web endpoint's TLS certificate (WA_WEB_SERVERNAME)."""
    platform: str | None = None
    """Image platform; Meta's images are amd64-only, so real images default to linux/amd64."""

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        bare = value.strip().removeprefix("v")
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", bare):
            raise ValueError(f"{value!r} is not a client version: write it like 2.57.2 (or v2.57.2)")
        return bare

    @field_validator("shards")
    @classmethod
    def _shards(cls, value: int) -> int:
        if value not in VALID_SHARDS:
            raise ValueError(f"must be one of {', '.join(map(str, VALID_SHARDS))}")
        return value

    @property
    def emulated(self) -> bool:
        return self.image_registry == EMULATOR_REGISTRY

    @property
    def effective_platform(self) -> str | None:
        """The platform images run as: the configured one, else linux/amd64 for Meta's images."""
        return self.platform or (None if self.emulated else "linux/amd64")

    @property
    def coreapp_image(self) -> str:
        return f"{self.image_registry}/coreapp:v{self.version}"

    @property
    def web_image(self) -> str:
        return f"{self.image_registry}/web:v{self.version}"


class ExternalDbSettings(Model):
    kind: Literal["mysql", "postgres"] = "mysql"
    host: str
    """The database server's name or address; `host-gateway` names the Docker host itself."""
    port: Port = 3306
    username: str = "root"


class DbSettings(Model):
    engine: Literal["mysql", "postgres", "external"] = "mysql"
    image: str | None = None
    """Database image; defaults to onprem/mysql:8.0 or onprem/postgres:15 (built by `make images`)."""
    username: str = "root"
    name_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{0,32}$")] = ""
    connection_idle_timeout_ms: Annotated[int, Field(ge=1000)] = 180000
    external: ExternalDbSettings | None = None

    @model_validator(mode="after")
    def _external(self) -> DbSettings:
        if self.engine == "external" and self.external is None:
            raise ValueError("engine 'external' needs db.external.host (and kind, port, username)")
        if self.engine != "external" and self.external is not None:
            raise ValueError("db.external is only read when db.engine is 'external'")
        return self

    @property
    def kind(self) -> Literal["mysql", "postgres"]:
        if self.external is not None:
            return self.external.kind
        return "postgres" if self.engine == "postgres" else "mysql"

    @property
    def effective_image(self) -> str:
        return self.image or ("onprem/postgres:15" if self.kind == "postgres" else "onprem/mysql:8.0")


class NetworkSettings(Model):
    name: str | None = None
    """User-defined network name; defaults to `<deployment>_net`."""
    bind_address: str = "127.0.0.1"
    """Host address published ports bind to."""
    web_port: Port = 9090
    relay_port: Port = 8443
    exporter_port: Port = 9108
    prometheus_port: Port = 9091
    grafana_port: Port = 3000
    db_port: Port | None = None
    """Publish the bundled database on this host port (not published by default)."""
    subnet: str | None = None
    """The stack network's subnet (e.g. 172.30.50.0/24), pinned so that an outside database's grants
    can name it; default: one the engine picks."""

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, value: str) -> str:
        ipaddress.ip_address(value)  # raises ValueError with a clear message
        return value

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_network(value)  # raises ValueError naming what is wrong
        return value


class MonitoringSettings(Model):
    enabled: bool = False
    """Start the `monitoring` profile (Prometheus provisioned from monitoring/)."""
    prometheus_image: str = "onprem/prometheus:2.42"
    grafana_image: str | None = None
    """Grafana image (e.g. grafana/grafana-oss:11.2.0) where a registry can serve one; none here."""
    scrape_interval: Annotated[str, Field(pattern=r"^\d+(ms|s|m)$")] = "15s"


class RegistrationSettings(Model):
    """Register the business number (`POST /v1/account`); the code is then given with `onprem verify`."""

    cc: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}$")]
    """Country calling code, without `+`."""
    phone_number: Annotated[str, Field(pattern=r"^[0-9]{4,15}$")]
    """The number without the country code."""
    method: Literal["sms", "voice"] = "sms"
    cert_file: str
    """File holding the base64 verified-name certificate from the WhatsApp Manager."""
    pin_file: str | None = None
    """File holding the 6-digit two-step PIN, needed when two-step verification is on."""


class BootstrapSettings(Model):
    """Bootstrap steps, run in this order by `onprem deploy`, each skipped when already done."""

    certs: bool = False
    """Issue the internal CA and the server certificates of the web endpoint and the relay
    (`onprem certs issue`); the relay serves its certificate when `relay.tls` is set."""
    registration: RegistrationSettings | None = None
    """Request a registration code (`onprem register`); skipped when the number is registered."""
    webhooks: Literal["none", "relay"] = "none"
    """`relay`: send the client's callbacks to the relay, trusting its CA (`onprem webhooks set`)."""


class Settings(Model):
    deployment: DeploymentSettings = DeploymentSettings()
    hosts: list[HostSettings] = Field(default_factory=lambda: [HostSettings()], min_length=1)
    client: ClientSettings = ClientSettings()
    db: DbSettings = DbSettings()
    network: NetworkSettings = NetworkSettings()
    relay: RelaySettings = RelaySettings()
    exporter: ExporterSettings = ExporterSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    secrets: SecretsSettings = SecretsSettings()
    bootstrap: BootstrapSettings = BootstrapSettings()
    swarm: SwarmSettings = SwarmSettings()
    cloud: CloudSettings = CloudSettings()

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.client.mode == "single" and self.client.shards != 1:
            raise ValueError("client.shards > 1 needs client.mode: multiconnect")
        return self

    @property
    def network_name(self) -> str:
        return self.network.name or f"{self.deployment.name}_net"

    def published_ports(self) -> dict[str, int]:
        """Host ports this deployment publishes, by the field that sets them."""
        ports = {"network.web_port": self.network.web_port}
        if self.relay.enabled:
            ports["network.relay_port"] = self.network.relay_port
            for replica in range(2, self.relay.replicas + 1):  # one host port per replica
                ports[f"network.relay_port (+{replica - 1}, relay replica {replica})"] = (
                    self.network.relay_port + replica - 1
                )
            if self.relay.public is not None:
                ports["relay.public.port"] = self.relay.public.port
                ports["relay.public.http01_port"] = self.relay.public.http01_port
        if self.exporter.enabled:
            ports["network.exporter_port"] = self.network.exporter_port
        if self.monitoring.enabled:
            ports["network.prometheus_port"] = self.network.prometheus_port
            if self.monitoring.grafana_image:
                ports["network.grafana_port"] = self.network.grafana_port
        if self.db.engine != "external" and self.network.db_port is not None:
            ports["network.db_port"] = self.network.db_port
        if self.cloud.emulator:
            ports["cloud.emulator_port"] = self.cloud.emulator_port
        return ports


def _port_clashes(settings: Settings) -> list[tuple[tuple[str, ...], str]]:
    seen: dict[int, str] = {}
    clashes = []
    for field, port in settings.published_ports().items():
        if port in seen:
            clashes.append(
                # A label may carry a note after the field ("network.relay_port (+1, relay replica 2)").
                (
                    tuple(field.split(" ")[0].split(".")),
                    f"port {port} is already used by {seen[port]}; pick a free port",
                )
            )
        else:
            seen[port] = field
    return clashes


def _host_problems(settings: Settings) -> list[tuple[tuple[str | int, ...], str]]:
    enabled: list[Role] = []
    if settings.db.engine != "external":
        enabled.append("db")
    if settings.relay.enabled:
        enabled.append("relay")
    if settings.exporter.enabled:
        enabled.append("exporter")
    if settings.monitoring.enabled:
        enabled.append("monitoring")
    multiconnect = settings.client.mode == "multiconnect"
    if settings.deployment.target == "swarm":
        return [
            *swarm_limits(monitoring=settings.monitoring.enabled, relay_replicas=settings.relay.replicas),
            *swarm_role_problems(settings.hosts, settings.swarm, multiconnect=multiconnect, enabled=enabled),
        ]
    if "swarm" in settings.model_fields_set:
        return [(("swarm",), "applies only with deployment.target: swarm; set that, or remove swarm:")]
    return role_problems(settings.hosts, multiconnect=multiconnect, enabled=enabled)


def parse_settings(data: Mapping[str, Any], origins: Origins, default_origin: str) -> Settings:
    """Validate merged settings data.

    Raises ConfigError listing every problem as `<where>: <field>: <what is wrong and what is valid>`.
    """
    problems: list[str] = []
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = tuple(error["loc"])
            dotted = ".".join(str(p) for p in path) or "(top level)"
            message = describe_error(error)
            if error["type"] == "extra_forbidden":
                keys = valid_keys(Settings, path)
                message += f" (valid keys here: {keys})" if keys else ""
            problems.append(f"{locate(origins, path, default_origin)}: {dotted}: {message}")
        raise ConfigError(problems) from None
    for path, message in [*_port_clashes(settings), *_host_problems(settings)]:
        problems.append(f"{locate(origins, path, default_origin)}: {'.'.join(map(str, path))}: {message}")
    if problems:
        raise ConfigError(problems)
    return settings


class LoadedConfig(BaseModel):
    """Settings plus where they came from (for error messages and relative paths)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    settings: Settings
    path: Path | None
    base_dir: Path
    origins: dict[tuple[str | int, ...], str]

    @property
    def state_dir(self) -> Path:
        configured = Path(os.path.expanduser(self.settings.deployment.state_dir))
        root = configured if configured.is_absolute() else self.base_dir / configured
        return root / self.settings.deployment.name

    def where(self, *path: str | int) -> str:
        """The origin of a field, e.g. `onprem.yaml:12`, for messages about values checked later."""
        return locate(self.origins, tuple(path), str(self.path or "built-in defaults"))


def find_config(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The config file to read: --config, else $ONPREM_CONFIG, else ./onprem.yaml if present, else none.

    Raises ConfigError when an explicitly named file does not exist.
    """
    named = explicit or environ.get("ONPREM_CONFIG")
    if named:
        path = Path(named).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise ConfigError(f"{named}: config file not found; pass an existing file to --config")
        return path
    default = cwd / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def load_settings(
    config_path: Path | None,
    *,
    environ: Mapping[str, str],
    overrides: list[str] | None = None,
    cwd: Path,
) -> LoadedConfig:
    """Read and validate settings: built-in defaults < file < ONPREM_* environment < --set flags.

    Raises ConfigError (exit 2) naming file, line and field for every invalid value.
    """
    data: dict[str, Any] = {}
    origins: Origins = {}
    label = "built-in defaults"
    if config_path is not None:
        label = str(config_path)
        try:
            text = config_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read: {exc.strerror}") from None
        data, origins = parse_yaml(text, label)
    for extra_data, extra_origins in (from_env(environ), from_flags(overrides or [])):
        data = merge(data, extra_data)
        origins.update(extra_origins)
    settings = parse_settings(data, origins, label)
    base_dir = config_path.parent if config_path is not None else cwd
    override_dir = environ.get("ONPREM_STATE_DIR")
    if override_dir:
        settings = settings.model_copy(
            update={"deployment": settings.deployment.model_copy(update={"state_dir": override_dir})}
        )
    return LoadedConfig(settings=settings, path=config_path, base_dir=base_dir, origins=origins)
