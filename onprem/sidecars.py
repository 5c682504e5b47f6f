"""The sidecars' part of a bundle (pure): the settings file each sidecar container reads (relay.yaml,
exporter.yaml, cloudapi.yaml), the secret files it mounts, and the ports and paths the compose file gives
it. `render` puts these into the bundle; nothing here reads a file or a secret's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onprem import __version__
from onprem.config import Settings
from onprem.emulator.cloud.settings import CloudEmulatorSettings
from onprem.exporter.settings import ExporterSettings, RelayPublicProbeSettings
from onprem.relay.settings import RelaySettings

RELAY_CONTAINER_PORT = 8443
RELAY_PUBLIC_CONTAINER_PORT = 8444
"""The relay.public HTTPS listener inside the container (published on relay.public.port)."""
RELAY_HTTP01_CONTAINER_PORT = 8080
"""The relay.public HTTP listener (ACME challenges, redirect) in the container (relay.public.http01_port)."""
RELAY_SETTINGS_PATH = "/etc/onprem/relay.yaml"
"""Where the relay container reads its settings (relay.yaml, rendered from the `relay:` section)."""
# The internal CA `onprem certs issue` writes (state dir), mounted into Prometheus to verify a TLS relay.
RELAY_CA_FILE = "../certs/root.pem"
RELAY_CA_IN_PROMETHEUS = "/etc/prometheus/relay-ca.pem"
# The bundled Redis of a relay on `store.backend: redis` with no URL of its own.
REDIS_IMAGE = "onprem/redis:7"
BUNDLED_REDIS_URL = "redis://redis:6379/0"
REDIS_PASSWORD_FILE = "/run/secrets/RELAY_REDIS_PASSWORD"  # noqa: S105 - a path, not a password
# The Cloud API emulator (`cloud.emulator`): its image, settings file, database volume and the CA it trusts
# for the relay's HTTPS (the internal CA that signs the relay's certificate).
CLOUDAPI_IMAGE = f"onprem-emulator/cloudapi:{__version__}"
CLOUDAPI_SETTINGS_PATH = "/etc/onprem/cloudapi.yaml"
CLOUDAPI_DATA_DIR = "/var/lib/onprem-cloudapi"
CLOUDAPI_CA_PATH = "/etc/onprem/cloudapi-ca.pem"
CLOUDAPI_SECRET = "CLOUD_API_TOKEN"  # noqa: S105 - a secret's file name
# Where the emulator plays a number no `bootstrap.registration` names (check_config refuses a deploy).
PLACEHOLDER_NUMBER = ("1", "5550100000")


SECRETS_MOUNT = "/run/secrets/"


def _secret_names(paths: list[str]) -> list[str]:
    return sorted({Path(p).name for p in paths if p.startswith(SECRETS_MOUNT)})


def bundled_redis(settings: Settings) -> bool:
    """Whether the stack runs its own Redis: the relay's store is Redis and no URL names another."""
    relay = settings.relay
    return relay.enabled and relay.store.backend == "redis" and relay.store.redis.url is None


def stack_relay(settings: Settings) -> RelaySettings:
    """The relay's settings as its containers read them: a bundled Redis's URL and password filled in."""
    relay = settings.relay
    if not bundled_redis(settings):
        return relay
    redis = relay.store.redis.model_copy(
        update={"url": BUNDLED_REDIS_URL, "password_file": REDIS_PASSWORD_FILE}
    )
    return relay.model_copy(update={"store": relay.store.model_copy(update={"redis": redis})})


def relay_secret_names(settings: Settings) -> list[str]:
    """Secret files the relay reads with these settings (by name under /run/secrets)."""
    return _secret_names(stack_relay(settings).secret_files()) if settings.relay.enabled else []


def exporter_secret_names(settings: Settings) -> list[str]:
    """Secret files the exporter reads with these settings (by name under /run/secrets)."""
    if not settings.exporter.enabled:
        return []
    paths = [settings.exporter.api_key_file or ""]
    if settings.exporter.login is not None:
        paths.append(settings.exporter.login.password_file)
    return _secret_names(paths)


def cloudapi_settings(settings: Settings) -> CloudEmulatorSettings:
    """The Cloud API emulator's own settings, from the `cloud:` section (pure): it plays
    `cloud.phone_number_id` of `cloud.waba_id` with the number of `bootstrap.registration`, accepts the
    CLOUD_API_TOKEN secret, signs with the relay's app secret and listens on the host's network at
    `network.bind_address:cloud.emulator_port`."""
    cloud = settings.cloud
    registration = settings.bootstrap.registration
    cc, phone = (registration.cc, registration.phone_number) if registration else PLACEHOLDER_NUMBER
    waba = cloud.waba_id or "100000000000002"
    app: dict[str, Any] = {"secret_file": f"{SECRETS_MOUNT}RELAY_APP_SECRET"}
    if cloud.webhook_url is not None:
        app.update(callback_url=cloud.webhook_url, verify_token_file=f"{SECRETS_MOUNT}RELAY_VERIFY_TOKEN")
    host = settings.network.bind_address
    return CloudEmulatorSettings.model_validate(
        {
            "listen": f"[{host}]:{cloud.emulator_port}" if ":" in host else f"{host}:{cloud.emulator_port}",
            "database": f"{CLOUDAPI_DATA_DIR}/cloudapi.sqlite3",
            "phone_numbers": [
                {
                    "id": cloud.phone_number_id or "100000000000001",
                    "cc": cc,
                    "phone_number": phone,
                    "verified_name": settings.deployment.name,
                    "waba_id": waba,
                }
            ],
            "tokens": [{"file": f"{SECRETS_MOUNT}{CLOUDAPI_SECRET}", "waba_ids": [waba]}],
            "app": app,
            "ca_file": CLOUDAPI_CA_PATH if settings.relay.tls is not None else None,
        }
    )


def cloudapi_secret_names(settings: Settings) -> list[str]:
    """Secret files the Cloud API emulator reads (none when `cloud.emulator` is off)."""
    if not settings.cloud.emulator:
        return []
    emulated = cloudapi_settings(settings)
    paths = [emulated.app.secret_file or "", emulated.app.verify_token_file or ""]
    return _secret_names(paths + [token.file for token in emulated.tokens])


def all_secret_names(settings: Settings) -> list[str]:
    """Every secret file the compose file declares (client secrets plus what the sidecars read)."""
    names = {"WA_DB_PASSWORD", "WA_API_KEY", "apikey.header"}
    sidecars = [*relay_secret_names(settings), *exporter_secret_names(settings)]
    return sorted(names | set(sidecars) | set(cloudapi_secret_names(settings)))


def relay_acme(settings: Settings) -> bool:
    # The ACME account key and certificate live in the relay's data volume, whatever its store.
    public = settings.relay.public
    return public is not None and public.acme is not None


def relay_public_context(settings: Settings) -> dict[str, Any] | None:
    """Ports and addresses of the relay's public face, or None without `relay.public` (pure)."""
    public = settings.relay.public
    if not settings.relay.enabled or public is None:
        return None
    return {
        "bind": public.bind_address or settings.network.bind_address,
        "port": public.port,
        "http01_port": public.http01_port,
        "container_port": RELAY_PUBLIC_CONTAINER_PORT,
        "http01_container_port": RELAY_HTTP01_CONTAINER_PORT,
    }


def stack_exporter(settings: Settings) -> ExporterSettings:
    """The exporter's settings as its container reads them: with relay.public, a probe of the relay's
    public listener over the stack network unless exporter.relay_public names another."""
    exporter = settings.exporter
    public = settings.relay.public
    if exporter.relay_public is not None or public is None or not settings.relay.enabled:
        return exporter
    probe = RelayPublicProbeSettings(
        address=f"relay:{RELAY_PUBLIC_CONTAINER_PORT}", host_name=public.host_name
    )
    return exporter.model_copy(update={"relay_public": probe})
