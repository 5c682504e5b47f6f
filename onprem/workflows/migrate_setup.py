"""`migrate cloud` for a deployment: the target from the config and flags (flags win), the seams from the
deployment (its API, the Graph client, the backup workflow, its relay, compose), and the run.

Nothing here writes before the checks passed: the backup password (generated and stored on first use)
is only resolved by a real run's backup step, and the Cloud API token is read, never stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from onprem.cloud_settings import graph_url_of
from onprem.deployment import Deployment
from onprem.errors import ConfigError, StateError
from onprem.graph.client import GraphClient, digits
from onprem.secrets import CLOUD_TOKEN_SPEC, SecretEntry, describe_source
from onprem.workflows.backup import backup_to, inspect
from onprem.workflows.migrate import Record, Seams, Target, migrate
from onprem.workflows.registration import PendingStore, read_pin
from onprem.workflows.secrets_info import backup_password

VERIFY_TOKEN_SECRET = "RELAY_VERIFY_TOKEN"  # noqa: S105 - a file name, not a value
_VERIFIED = re.compile(r'^relay_verified_total\{source="cloud_verify"\}\s+([0-9.eE+-]+)\s*$', re.M)


@dataclass(frozen=True)
class Flags:
    """The command's flags; None means "from the config"."""

    dry_run: bool = False
    pin_file: Path | None = None
    region: str | None = None
    webhook_url: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    resume: str = "onprem migrate cloud"


def _need(value: str | None, deployment: Deployment, field: str, what: str) -> str:
    if not value:
        raise ConfigError(
            f"{deployment.loaded.where('cloud')}: cloud.{field} is not set: give {what} in the cloud: section"
        )
    return value


def _number(deployment: Deployment) -> str:
    registration = deployment.settings.bootstrap.registration
    if registration is not None:
        return registration.cc + registration.phone_number
    pending = PendingStore(deployment.state.registration_file).read()
    if pending.get("cc") and pending.get("phone_number"):
        return digits(f"{pending['cc']}{pending['phone_number']}")
    raise ConfigError(
        f"{deployment.loaded.where('bootstrap')}: which number moves is unknown: set "
        f"bootstrap.registration (cc, phone_number), or register it with `onprem register` from here"
    )


def _pin(deployment: Deployment, flags: Flags) -> tuple[str, str]:
    if flags.pin_file is not None:
        return read_pin(flags.pin_file, deployment.progress), str(flags.pin_file)
    registration = deployment.settings.bootstrap.registration
    if registration is not None and registration.pin_file is not None:
        path = deployment.config_path(registration.pin_file)
        return read_pin(path, deployment.progress), str(path)
    raise ConfigError(
        "migrate cloud needs the number's 6-digit two-step PIN: give --pin-file FILE (or "
        "bootstrap.registration.pin_file); the Cloud API's register requires it"
    )


def _token(deployment: Deployment) -> tuple[str, str]:
    # Not one of the secrets `deploy` resolves (unless the stack runs the emulator), so not in `entries`.
    loaded = deployment.loaded
    found = SecretEntry(
        CLOUD_TOKEN_SPEC, loaded.settings.secrets.cloud_token, loaded.where("secrets", CLOUD_TOKEN_SPEC.field)
    )
    value = deployment.secrets.source_value(found) or deployment.secrets.read(CLOUD_TOKEN_SPEC.name)
    if not value:
        raise ConfigError(
            f"{found.where}: secrets.cloud_token: give the Cloud API system-user token as a file, env or "
            "command source (it is never generated for Meta's API)"
        )
    problem = found.spec.check(value)
    if problem:
        raise ConfigError(f"{found.where}: secrets.cloud_token: {problem}")
    return value, f"secrets.cloud_token, {describe_source(found.source)}"


def relay_metrics_url(deployment: Deployment) -> str:
    """The relay's /metrics at its published port on this host (loopback for a wildcard bind)."""
    settings = deployment.settings
    host = settings.network.bind_address
    if host in ("0.0.0.0", "::"):  # noqa: S104 - the operator's wildcard, reached over loopback
        host = "127.0.0.1"
    scheme = "https" if settings.relay.tls is not None else "http"
    return f"{scheme}://{host}:{settings.network.relay_port}/metrics"


def relay_verifications(session: requests.Session, url: str, ca: Path | None) -> float | None:
    """`relay_verified_total{source="cloud_verify"}` from the relay's metrics (0 before the first one),
    None when the relay does not answer."""
    try:
        answer = session.get(url, timeout=10, verify=str(ca) if ca is not None and ca.is_file() else True)
    except requests.RequestException:
        return None
    if answer.status_code != 200:
        return None
    found = _VERIFIED.search(answer.text)
    return float(found.group(1)) if found else 0.0


def target_of(deployment: Deployment, flags: Flags) -> Target:
    """The migration's target from the config and flags. Raises ConfigError naming the field and file."""
    settings = deployment.settings
    cloud = settings.cloud
    if not settings.relay.enabled or not settings.relay.cloud.enabled:
        raise ConfigError(
            f"{deployment.loaded.where('relay')}: relay.cloud.enabled is false: the relay is the Cloud API's "
            f"webhook ingress after the move; set relay.cloud.enabled: true in {deployment.loaded.path} and "
            "`onprem deploy` before migrating"
        )
    webhook_url = flags.webhook_url or cloud.webhook_url
    if flags.webhook_url is not None and not flags.webhook_url.startswith("https://"):
        raise ConfigError(f"--webhook-url {flags.webhook_url}: Meta calls webhooks over HTTPS only")
    verify_token = deployment.secrets.read(VERIFY_TOKEN_SECRET)
    if not verify_token:
        raise StateError(
            f"no {VERIFY_TOKEN_SECRET} in {deployment.state.secrets}: deploy the relay with its Cloud "
            "ingress (`onprem deploy`) from here first"
        )
    if Record(deployment.state.migration_file).read().get("completed"):
        pin, pin_origin = "", "(not needed: the migration is complete)"  # a rerun only says it is done
    else:
        pin, pin_origin = _pin(deployment, flags)
    _token_value, token_origin = _token(deployment)
    region_origin = (
        "--region" if flags.region is not None else f"{deployment.loaded.where('cloud', 'region')}"
    )
    return Target(
        number_digits=_number(deployment),
        phone_number_id=_need(
            cloud.phone_number_id, deployment, "phone_number_id", "the Cloud phone number ID"
        ),
        waba_id=_need(cloud.waba_id, deployment, "waba_id", "the WhatsApp Business Account ID"),
        webhook_url=_need(webhook_url, deployment, "webhook_url", "the relay's outside https:// address"),
        region=flags.region if flags.region is not None else cloud.region,
        region_origin=region_origin,
        pin=pin,
        pin_origin=pin_origin,
        verify_token=verify_token.strip(),
        token_origin=token_origin,
        resume=flags.resume,
    )


def seams_of(deployment: Deployment, flags: Flags, environ: Mapping[str, str]) -> Seams:
    """The real seams of a deployment. Reads, never writes, until a step runs."""
    settings = deployment.settings
    token, _where = _token(deployment)
    ca = settings.cloud.ca_file
    session = requests.Session()
    graph = GraphClient(
        graph_url_of(settings.cloud, settings.network.bind_address),
        settings.cloud.api_version,
        token,
        session=session,
        ca_file=deployment.config_path(ca) if ca else None,
    )
    internal_ca = deployment.state.certs.path("root.pem")
    password: list[str] = []

    def the_password() -> str:
        if not password:
            password.append(backup_password(deployment, flags.password_file, flags.password_env, environ)[0])
        return password[0]

    def make_backup() -> Path:
        return Path(str(backup_to(deployment, password=the_password(), output=None)["file"]))

    def read_backup(path: Path) -> str:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StateError(f"{path}: cannot read the backup archive ({exc.strerror})") from None
        _manifest, members = inspect(data, password=the_password(), origin=str(path))
        settings_data = members.get("settings.txt")
        if not settings_data:
            raise StateError(f"{path}: the archive holds no settings backup of a registered client")
        return settings_data.decode()

    metrics = relay_metrics_url(deployment)
    return Seams(
        onprem=deployment.api(),
        graph=graph,
        http=session,
        pin_record=deployment.state.two_step_file,
        internal_ca=internal_ca if internal_ca.is_file() else None,
        make_backup=make_backup,
        read_backup=read_backup,
        backup_password=the_password,
        relay_verifications=lambda: relay_verifications(session, metrics, internal_ca),
        stop_onprem=lambda: _stop(deployment),
        now=deployment.now,
        sleep=deployment.sleep,
        progress=deployment.progress,
    )


def _stop(deployment: Deployment) -> None:
    # Only the client's containers: the relay (now the Cloud API's ingress), the database and every volume
    # stay, so that `onprem deploy` brings the client back as it was.
    deployment.compose("stop", *deployment.client_services)


def migrate_cloud(deployment: Deployment, flags: Flags, environ: Mapping[str, str]) -> dict[str, Any]:
    """`onprem migrate cloud`. Raises ConfigError, StateError (before anything changes), MigrationError."""
    target = target_of(deployment, flags)
    return migrate(
        target,
        seams_of(deployment, flags, environ),
        Record(deployment.state.migration_file),
        dry_run=flags.dry_run,
    )
