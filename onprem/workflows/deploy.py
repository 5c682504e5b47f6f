"""`onprem deploy`: validate -> secrets -> render -> up -> health gate -> bootstrap -> record.

Everything that can be checked is checked before the engine is touched, so a bad config leaves Docker
as it was. A re-run with nothing changed (same bundle, same secrets, every service healthy) is a no-op.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from onprem.bundle import COMPOSE_FILE, BundleDiff, digest, file_hashes, write_bundle
from onprem.config import LoadedConfig
from onprem.deployment import Deployment
from onprem.engine.base import ContainerState
from onprem.engine.compose import up_args
from onprem.engine.images import stack_images
from onprem.errors import ApiError, ConfigError, EngineError, GateError
from onprem.render import all_secret_names, expected_services, profiles, read_kit, render
from onprem.secrets import APIKEY_HEADER, SPECS
from onprem.state import StateDir
from onprem.workflows import bootstrap, certs
from onprem.workflows.certs import RELAY_CERT_SECRET, RELAY_KEY_SECRET
from onprem.workflows.gate import LOG_LINES, PROBE_TIMEOUT, first_problem, gate


@dataclass
class DeployResult:
    changed: bool
    diff: BundleDiff
    containers: list[ContainerState]
    health: dict[str, Any]
    admin: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    """A render with its secrets resolved: the bundle's files, the secret values, and the digest of
    both (plus the bootstrap steps) that tells whether anything changed since the last deploy."""

    files: dict[str, str]
    values: dict[str, str]
    digest: str


def _secrets_digest(values: Mapping[str, str]) -> dict[str, str]:
    # Only hashes, so the record can say "a secret changed" without holding any secret.
    return {name: hashlib.sha256(value.encode()).hexdigest() for name, value in values.items()}


def missing_secret_files(loaded: LoadedConfig, stored: Callable[[str], bool]) -> list[str]:
    """Secret files the rendered stack mounts that no source provides and `stored` lacks (pure).

    Only the relay's certificate (RELAY_TLS_CERT, RELAY_TLS_KEY) is written by another command; a
    first deploy with `bootstrap.certs` issues it before anything else."""
    settings = loaded.settings
    provided = {spec.name for spec in SPECS} | set(settings.secrets.extra) | {APIKEY_HEADER}
    if settings.bootstrap.certs:
        provided |= {RELAY_CERT_SECRET, RELAY_KEY_SECRET}
    return [name for name in all_secret_names(settings) if name not in provided and not stored(name)]


def check_config(loaded: LoadedConfig) -> None:
    """Everything `deploy` checks before touching anything, without writing anything (`onprem config`).

    Raises ConfigError naming the file, the field and the fix."""
    bootstrap.check(loaded)
    secrets_dir = StateDir(loaded.state_dir).secrets
    unknown = missing_secret_files(loaded, lambda name: (secrets_dir / name).is_file())
    if unknown:
        tls = any(n in (RELAY_CERT_SECRET, RELAY_KEY_SECRET) for n in unknown)
        hint = (
            ": the relay serves TLS, so issue its certificate first (`onprem certs issue`) or set "
            "`bootstrap: {certs: true}`"
            if tls
            else "; name them under secrets.extra to generate or source them"
        )
        raise ConfigError(
            f"{loaded.where('relay')}: the relay or exporter settings read secret files onprem lacks: "
            f"{', '.join('/run/secrets/' + n for n in unknown)}{hint}"
        )


def prepare(deployment: Deployment) -> Prepared:
    """Check the config, resolve secrets and render (no engine involved).

    Raises ConfigError / SecretError / StateError.
    """
    loaded = deployment.loaded
    check_config(loaded)
    values = deployment.secrets.resolve(loaded)
    for name in all_secret_names(loaded.settings):
        # Files written by `onprem certs issue` (RELAY_TLS_CERT, RELAY_TLS_KEY) are stored secrets too.
        stored = None if name in values else deployment.secrets.read(name)
        if stored is not None:
            values[name] = stored
    files = render(loaded.settings, kit=read_kit())
    # The bootstrap steps render nothing, but a change to them is a change to deploy.
    extra = {**_secrets_digest(values), "bootstrap": loaded.settings.bootstrap.model_dump_json()}
    return Prepared(files, values, digest(file_hashes(files), extra))


def image_names(loaded: LoadedConfig) -> list[str]:
    """The images the configured stack runs (its active profiles only), from a render (pure)."""
    settings = loaded.settings
    return stack_images(render(settings, kit={})[COMPOSE_FILE], profiles(settings))


def render_only(deployment: Deployment) -> BundleDiff:
    """Write the bundle without touching the engine (`onprem render`). Raises as `prepare`."""
    return write_bundle(deployment.state.bundle, prepare(deployment).files)


def describe(changes: BundleDiff) -> str:
    """`unchanged`, or `2 added, 1 changed` (pure)."""
    if changes.empty:
        return "unchanged"
    groups = (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed))
    return ", ".join(f"{len(paths)} {kind}" for kind, paths in groups if paths)


def deploy(deployment: Deployment) -> DeployResult:
    """Deploy. Raises ConfigError, SecretError, StateError, EngineError, GateError or ApiError."""
    bootstrap.check(deployment.loaded)
    if deployment.settings.bootstrap.certs:
        # Before the secrets are read: a first deploy starts the relay with its certificate.
        certs.issue_for(deployment)
    prepared = prepare(deployment)
    deployment.engine.check()
    unchanged = _unchanged(deployment, prepared)
    if unchanged is not None:
        return unchanged
    return _launch(deployment, prepared)


def _unchanged(deployment: Deployment, prepared: Prepared) -> DeployResult | None:
    """The no-op result when the last deploy recorded this digest and everything is healthy."""
    if deployment.state.read_record().get("digest") != prepared.digest:
        return None
    containers = deployment.engine.containers(deployment.project)
    if first_problem(expected_services(deployment.settings), containers) is not None:
        return None
    try:
        health = deployment.api_with(prepared.values["WA_API_KEY"]).health(timeout=PROBE_TIMEOUT)
    except ApiError:
        return None
    return DeployResult(False, BundleDiff(), containers, health)


def _launch(deployment: Deployment, prepared: Prepared) -> DeployResult:
    settings = deployment.settings
    expected = expected_services(settings)
    changes = write_bundle(deployment.state.bundle, prepared.files)
    deployment.progress(f"bundle {deployment.state.bundle}: {describe(changes)}")
    engine = deployment.engine
    copy = engine.images_to_copy(stack_images(prepared.files[COMPOSE_FILE], profiles(settings)))
    if copy:
        deployment.progress(
            f"copying {len(copy)} images to the host (docker save | docker load): {', '.join(copy)}"
        )
        engine.copy_images(copy)
    deployment.progress(f"starting {len(expected)} services: {', '.join(expected)}")
    try:
        engine.compose(deployment.state.bundle, deployment.project, up_args(), profiles=profiles(settings))
    except EngineError as exc:
        # `up` waits for dependencies' health itself; name the service that failed it, with its logs.
        _raise_failed_service(deployment, expected, exc)
        raise
    deployment.progress("waiting for every service to be healthy and /v1/health to answer")
    passed = gate(deployment, expected, api_key=prepared.values["WA_API_KEY"])
    api = deployment.api_with(prepared.values["WA_API_KEY"])
    admin = bootstrap.ensure_admin_password(api, prepared.values["WA_ADMIN_PASSWORD"])
    notes = bootstrap.run_bootstrap(deployment)
    deployment.state.write_record({"digest": prepared.digest, "services": expected})
    return DeployResult(True, changes, passed.containers, passed.health, admin=admin, notes=notes)


def _raise_failed_service(deployment: Deployment, expected: list[str], cause: EngineError) -> None:
    problem = first_problem(expected, deployment.engine.containers(deployment.project))
    if problem is None or not problem[2]:
        return
    service, why, _ = problem
    logs = deployment.engine.logs(deployment.project, service, tail=LOG_LINES)
    raise GateError(f"service {service} {why}", service=service, logs=logs) from cause
