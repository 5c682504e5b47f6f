"""Typed, frozen settings of the Prometheus exporter sidecar, and the reading of its config file.

The lead nests `ExporterSettings` under `exporter:` in onprem.yaml and renders `model_dump(mode="json")`
to /etc/onprem/exporter.yaml, which `onprem exporter serve --config` reads back with `load_settings`.
Every field has a default, so an empty file (or none at all) is a working config for the bundled stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from onprem.sidecar import load_section, parse_section, split_listen

DEFAULT_CA_FILE = "/usr/local/waent/data/certs/external/ca.pem"
DEFAULT_TRUSTED_CA_FILE = "/usr/local/waent/data/onprem/trusted.pem"
DEFAULT_API_KEY_FILE = "/run/secrets/WA_API_KEY"
DEFAULT_LISTEN = "127.0.0.1:9108"

Seconds = Annotated[float, Field(gt=0, le=3600)]


def _absolute(value: str | None) -> str | None:
    if value is not None and not value.startswith("/"):
        raise ValueError("must be an absolute path (it is read inside the exporter container)")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoginSettings(_Model):
    """Token fallback: log in with HTTP Basic when no API key works, and again whenever a token gets 401."""

    username: Annotated[str, Field(min_length=1, max_length=64)] = "admin"
    password_file: str = "/run/secrets/WA_ADMIN_PASSWORD"  # noqa: S105 - a path, not a password
    """File holding the user's password (one line; trailing newline ignored)."""

    @field_validator("password_file")
    @classmethod
    def _path(cls, value: str) -> str:
        return _absolute(value) or value


class StatsDbSettings(_Model):
    """`/v1/stats/db` is slow upstream, so it is refreshed in the background and served from a cache."""

    enabled: bool = False
    cache_ttl_seconds: Seconds = 300.0
    """Age after which a scrape starts a background refresh (the scrape still answers from the cache)."""
    timeout_seconds: Seconds = 120.0
    """How long one background refresh may take."""


class RelayPublicProbeSettings(_Model):
    """Probe the relay's public HTTPS listener (`relay.public`) for the expiry of what it serves."""

    address: str
    """HOST:PORT to connect to (in the stack: relay:<its public container port>)."""
    host_name: str
    """The name to send (SNI) and verify the certificate against: relay.public.host_name."""
    ca_file: str | None = None
    """PEM root to verify with (a private ACME CA); null: the system trust store."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        split_listen(value)
        return value.strip()

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        return _absolute(value)


class ExporterSettings(_Model):
    """Everything `onprem exporter serve` needs; defaults fit the bundled compose stack."""

    enabled: bool = True
    """Run the exporter service in the stack (read by the renderer; `serve` ignores it)."""
    upstream_url: str = "https://waweb:443"
    """Base URL of the web container's API (https only; no path)."""
    tls_server_name: str | None = None
    """Name to verify the upstream certificate against, when it differs from the URL's host."""
    ca_file: str | None = DEFAULT_CA_FILE
    """PEM CA that signed the upstream certificate (pinned); null means the system trust store."""
    trusted_ca_file: str | None = DEFAULT_TRUSTED_CA_FILE
    """More roots to trust, read when the file exists and is not empty: `onprem certs upload` writes the
    uploaded chain's root there (in the client's data volume), so the exporter follows an upload."""
    api_key_file: str | None = DEFAULT_API_KEY_FILE
    """File holding WA_API_KEY, sent as `Authorization: Apikey`; null to use only the token fallback."""
    login: LoginSettings | None = None
    """Token fallback; null disables it."""
    listen: str = DEFAULT_LISTEN
    """HOST:PORT the exporter serves /metrics and /healthz on (overridden by `serve --listen`)."""
    scrape_timeout_seconds: Seconds = 10.0
    """Deadline when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header."""
    scrape_timeout_offset_seconds: Annotated[float, Field(ge=0, le=60)] = 0.5
    """Subtracted from the scrape timeout, to leave time to encode and send the answer."""
    stats_db: StatsDbSettings = StatsDbSettings()
    relay_public: RelayPublicProbeSettings | None = None
    """Export the relay public certificate's expiry; null: no probe (filled in by the renderer when
    relay.public is set)."""

    @field_validator("upstream_url")
    @classmethod
    def _upstream(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https":
            raise ValueError("must be an https:// URL (the API key must never travel in clear)")
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be https://HOST[:PORT] with no path, query or fragment")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; use api_key_file or login")
        _ = parts.port  # raises ValueError on a bad port
        return value.rstrip("/")

    @field_validator("ca_file", "trusted_ca_file", "api_key_file")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return _absolute(value)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value.strip()

    @model_validator(mode="after")
    def _some_auth(self) -> ExporterSettings:
        if self.api_key_file is None and self.login is None:
            raise ValueError("set api_key_file or login (the upstream API needs one of them)")
        if self.scrape_timeout_offset_seconds >= self.scrape_timeout_seconds:
            raise ValueError("scrape_timeout_offset_seconds must be smaller than scrape_timeout_seconds")
        return self


def parse_settings(data: Any, *, origin: str = "<exporter config>") -> ExporterSettings:
    """Validate a plain mapping (None means empty). Raises ConfigError naming each bad field."""
    return parse_section(ExporterSettings, "exporter", data, origin)


def load_settings(path: Path) -> ExporterSettings:
    """Read and validate the YAML config file at `path`. Raises ConfigError if unreadable or invalid."""
    return load_section(ExporterSettings, "exporter", path)
