"""What `onprem deploy` does once the stack is healthy: rotate the factory admin password to the
generated secret, then the `bootstrap:` steps (certificates, registration, webhooks) in that order,
each skipped when already done."""

from __future__ import annotations

from typing import Protocol

from onprem.config import LoadedConfig
from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError
from onprem.workflows import certs, registration, webhooks
from onprem.workflows.gate import restart
from onprem.workflows.shards import bootstrap_shards

DEFAULT_ADMIN = ("admin", "secret")
PASSWORD_CHANGE_REQUIRED = 1024


class LoginApi(Protocol):
    def login(self, username: str, password: str, *, new_password: str | None = None) -> str: ...


def ensure_admin_password(api: LoginApi, password: str) -> str:
    """Make the admin password `password`; return "rotated" or "already set". Idempotent.

    Tries the stored password first (the usual case after the first deploy), then the factory default
    with `new_password`. Raises ApiError when neither works: someone changed it outside onprem.
    """
    try:
        api.login(DEFAULT_ADMIN[0], password)
        return "already set"
    except ApiError as exc:
        if exc.status != 401 and exc.code != PASSWORD_CHANGE_REQUIRED:
            raise
    try:
        api.login(DEFAULT_ADMIN[0], DEFAULT_ADMIN[1], new_password=password)
    except ApiError as exc:
        if exc.status == 401:
            raise ApiError(
                "the admin password is neither the stored one nor the factory default: it was changed "
                "outside onprem; give it to onprem as secrets.admin_password (source: file, env or command)",
                status=401,
                endpoint=exc.endpoint,
            ) from None
        raise
    return "rotated"


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


def run_bootstrap(deployment: Deployment) -> list[str]:
    """Run the configured steps; one note per step. A service restarted by a step (the relay for a new
    certificate, coreapp for a new webhook CA) is gated until healthy again.

    Raises ConfigError, ApiError, EngineError, or GateError when a restarted service stays unhealthy.
    """
    settings = deployment.settings
    wanted = settings.bootstrap
    if not (wanted.certs or wanted.registration or wanted.webhooks != "none"):
        return []
    check(deployment.loaded)
    api = deployment.api()
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        deployment.progress(line)

    if wanted.certs:
        done = certs.issue_for(deployment)
        if done["relay secrets"] == "updated" and settings.relay.enabled and settings.relay.tls is not None:
            restart(deployment, ["relay"])
        note("certs: " + ", ".join(f"{k} {v}" for k, v in done.items()))
    if wanted.registration is not None:
        reg = wanted.registration
        pin_file = deployment.config_path(reg.pin_file) if reg.pin_file else None
        pin = registration.read_pin(pin_file, deployment.progress) if pin_file else None
        result = registration.register(
            api,
            registration.PendingStore(deployment.state.registration_file),
            cc=reg.cc,
            phone_number=reg.phone_number,
            method=reg.method,
            cert=registration.read_cert(deployment.config_path(reg.cert_file)),
            pin=pin,
        )
        tail = "; finish with `onprem verify CODE`" if result.status == "code sent" else ""
        note(f"registration: {result.status} ({result.number}){tail}")
        applied = bootstrap_shards(deployment, api)
        if applied is not None:
            note(applied)
    if wanted.webhooks == "relay":
        ca = deployment.state.certs.read("root.pem")
        token = deployment.secrets.read("RELAY_PATH_TOKEN")
        if ca is None or token is None:
            raise ConfigError(
                "bootstrap.webhooks: relay needs the internal CA and the relay's path token: "
                "set bootstrap.certs: true"
            )
        outcome = webhooks.set_webhooks(
            api,
            url=webhooks.relay_url(settings, token),
            ca_pem=ca,
            restart_core=lambda: restart(deployment, deployment.core_services),
        )
        note("webhooks: " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
    return notes
