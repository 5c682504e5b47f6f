"""The `bootstrap:` steps `onprem deploy` runs once the stack is healthy and the admin password set:
certificates, registration, webhooks, in that order, each skipped when already done."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from onprem.api.account import Method, RegistrationAnswer
from onprem.config import LoadedConfig
from onprem.engine.base import Engine
from onprem.errors import ApiError, ConfigError
from onprem.ops import certs, registration, webhooks
from onprem.ops.runtime import wait_ready
from onprem.render import RELAY_CONTAINER_PORT, core_nodes
from onprem.workflows.state import StateDir


@runtime_checkable
class BootstrapApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...

    def request_code(
        self, cc: str, phone_number: str, method: Method, cert: str, *, pin: str | None = None
    ) -> RegistrationAnswer: ...

    def verify(self, code: str) -> None: ...

    def get_application_settings(self) -> dict[str, Any]: ...

    def patch_application_settings(self, changes: dict[str, Any]) -> None: ...

    def get_webhook_ca(self) -> str | None: ...

    def upload_webhook_ca(self, ca_pem: str) -> None: ...


class SecretFiles(Protocol):
    def read(self, name: str) -> str | None: ...

    def write(self, name: str, value: str) -> None: ...


def _path(loaded: LoadedConfig, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else loaded.base_dir / path


def check_relay_tls(loaded: LoadedConfig, who: str) -> None:
    """Raise ConfigError unless the relay serves HTTPS (the client only calls https:// webhooks)."""
    relay = loaded.settings.relay
    if not relay.enabled or relay.tls is None:
        raise ConfigError(
            f"{loaded.where('relay')}: {who} needs the relay to serve HTTPS (the client only calls "
            "https:// webhooks): set `relay: {enabled: true, tls: {}}` and `bootstrap: {certs: true}` "
            "(or run `onprem certs issue`), then `onprem deploy`"
        )


def check(loaded: LoadedConfig) -> None:
    """Raise ConfigError when the bootstrap steps asked for cannot work with these settings."""
    if loaded.settings.bootstrap.webhooks == "relay":
        check_relay_tls(loaded, "bootstrap.webhooks: relay")


def issue_certs(loaded: LoadedConfig, secrets: SecretFiles, *, now: datetime) -> dict[str, str]:
    """`certs issue` for this deployment (idempotent). Called before the secrets are resolved, it lets a
    first deploy start the relay with its certificate. Raises StateError."""
    from onprem.ops.context import OpsContext

    ctx = OpsContext(loaded)
    return certs.issue(
        ctx.cert_files,
        secrets,
        name=loaded.settings.deployment.name,
        web_sans=ctx.web_sans(),
        relay_sans=ctx.relay_sans(),
        now=now,
    )


def run_bootstrap(
    loaded: LoadedConfig,
    *,
    api: object,
    engine: Engine,
    secrets: SecretFiles,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[str], None] = lambda _line: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Run the configured steps; one note per step. A service restarted by a step (the relay for a new
    certificate, coreapp for a new webhook CA) is waited for until healthy.

    Raises ConfigError, ApiError, EngineError, or GateError when a restarted service stays unhealthy.
    """
    settings = loaded.settings
    wanted = settings.bootstrap
    if not (wanted.certs or wanted.registration or wanted.webhooks != "none"):
        return []
    check(loaded)
    if not isinstance(api, BootstrapApi):
        raise ApiError(
            "this API client cannot run the bootstrap steps (it lacks registration/settings calls)"
        )
    state = StateDir(loaded.state_dir)
    files = certs.CertFiles(state.root / "certs")
    project = settings.deployment.name
    notes: list[str] = []

    def restart(services: list[str]) -> None:
        engine.compose(state.bundle, project, ["restart", *services])
        # Leave the stack as healthy as the gate left it: wait for the restarted services.
        wait_ready(
            engine, project, services, timeout=settings.deployment.timeout_seconds, clock=clock, sleep=sleep
        )

    if wanted.certs:
        done = issue_certs(loaded, secrets, now=now())
        if done["relay secrets"] == "updated" and settings.relay.enabled and settings.relay.tls is not None:
            restart(["relay"])
        notes.append("certs: " + ", ".join(f"{k} {v}" for k, v in done.items()))
        progress(notes[-1])
    if wanted.registration is not None:
        reg = wanted.registration
        pin = registration.read_pin(_path(loaded, reg.pin_file)) if reg.pin_file else None
        result = registration.register(
            api,
            registration.PendingStore(state.root / "registration.json"),
            cc=reg.cc,
            phone_number=reg.phone_number,
            method=reg.method,
            cert=registration.read_cert(_path(loaded, reg.cert_file)),
            pin=pin,
        )
        tail = "; finish with `onprem verify CODE`" if result.status == "code sent" else ""
        notes.append(f"registration: {result.status} ({result.number}){tail}")
        progress(notes[-1])
    if wanted.webhooks == "relay":
        ca = files.read("root.pem")
        token = secrets.read("RELAY_PATH_TOKEN")
        if ca is None or token is None:
            raise ConfigError(
                "bootstrap.webhooks: relay needs the internal CA and the relay's path token: "
                "set bootstrap.certs: true"
            )
        cores = [node.service for node in core_nodes(settings)]
        outcome = webhooks.set_webhooks(
            api,
            url=webhooks.relay_url(RELAY_CONTAINER_PORT, token),
            ca_pem=ca,
            restart_core=lambda: restart(cores),
        )
        notes.append("webhooks: " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
        progress(notes[-1])
    return notes
