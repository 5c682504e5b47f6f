"""`onprem deploy`: check -> render -> release -> up -> health gate -> bootstrap -> current.

Everything that can be checked is checked before the engine is touched (config, secrets, the data's
identity, images), so a bad config leaves Docker as it was. Every deploy that changes something writes
an immutable release; when its gate fails, the release that ran before is brought back and gated, and
the error says so. A re-run with nothing changed (the running release's digest, every service healthy)
is a no-op.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onprem import __version__
from onprem.bundle import BundleDiff, file_hashes
from onprem.deployment import Deployment
from onprem.engine.base import ContainerState
from onprem.errors import ApiError, ConfigError, EngineError, GateError
from onprem.releases import Release, ReleaseStore, next_id
from onprem.render import expected_services, profiles
from onprem.workflows import bootstrap, certs
from onprem.workflows.apply import PullFailed, apply, recreate_for
from onprem.workflows.gate import PROBE_TIMEOUT, first_problem
from onprem.workflows.preflight import ImageCarrier, ImageCheck, check_identity, check_images, mark_hosts
from onprem.workflows.prepare import (
    Prepared,
    config_digest,
    describe,
    image_names,
    prepare,
    secret_values,
    secrets_digest,
)


@dataclass
class DeployResult:
    changed: bool
    diff: BundleDiff
    containers: list[ContainerState]
    health: dict[str, Any]
    admin: str = ""
    notes: list[str] = field(default_factory=list)
    release: str | None = None
    config_digest: str = ""
    summary: str = "nothing changed"
    """One line for the audit log: what the deploy changed."""


def operator() -> str:
    """Who runs this command: user@host of this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def changed_since(
    release: Release | None, files: Mapping[str, str], values: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """(bundle files, secret names) that differ from `release` (pure; none when there is no release)."""
    if release is None:
        return [], []
    hashes = file_hashes(files)
    paths = sorted(p for p, h in hashes.items() if release.files.get(p) != h)
    digests = secrets_digest(values)
    names = sorted(n for n, h in digests.items() if n in release.secrets and release.secrets[n] != h)
    return paths, names


def new_release(
    deployment: Deployment,
    store: ReleaseStore,
    prepared: Prepared,
    images: Mapping[str, str | None],
    command: str,
    upgrade: Mapping[str, str] | None = None,
) -> Release:
    """The manifest of a release of `prepared`, with the next id (nothing written)."""
    settings = deployment.settings
    return Release(
        id=next_id(store.ids()),
        created=deployment.now().isoformat(timespec="seconds"),
        by=operator(),
        command=command,
        config_digest=prepared.digest,
        client_version=settings.client.version,
        files=file_hashes(prepared.files),
        images=dict(images),
        secrets=secrets_digest(prepared.values),
        services=expected_services(settings),
        profiles=profiles(settings),
        upgrade=dict(upgrade or {}),
        note=f"onprem {__version__}",
    )


def check_version(deployment: Deployment, store: ReleaseStore) -> None:
    """Refuse a change of client version: it goes through `onprem upgrade` (backup, database upgrade).

    Raises ConfigError naming the versions and the command."""
    last = store.current_release()
    wanted = deployment.settings.client.version
    if last is None or last.client_version == wanted:
        return
    where = deployment.loaded.where("client", "version")
    if _newer(wanted, last.client_version):
        raise ConfigError(
            f"{where}: client.version changes from {last.client_version} (release {last.id}) to {wanted}: "
            f"a new client version needs its database upgraded first: `onprem upgrade --version {wanted}` "
            "(a verified backup, the one-shot database upgrade, then a new release)"
        )
    raise ConfigError(
        f"{where}: client.version {wanted} is older than the running release {last.id} "
        f"({last.client_version}): set client.version: {last.client_version}, or go back with "
        "`onprem rollback` (`onprem releases` lists them)"
    )


def _newer(a: str, b: str) -> bool:
    return tuple(int(p) for p in a.split(".")) > tuple(int(p) for p in b.split("."))


def deploy(
    deployment: Deployment, *, command: str = "deploy", carrier: ImageCarrier | None = None
) -> DeployResult:
    """Deploy; with a `carrier` (an offline bundle) the images come from it, once the checks before the
    engine is changed have passed. Raises ConfigError, SecretError, StateError, EngineError, GateError or
    ApiError."""
    bootstrap.check(deployment.loaded)
    if deployment.settings.bootstrap.certs:
        # Before the secrets are read: a first deploy starts the relay with its certificate.
        certs.issue_for(deployment)
    identity, new = deployment.state.identity_or_new()
    prepared = prepare(deployment, identity)
    deployment.engine.check()
    check_identity(deployment)
    created = deployment.now().isoformat(timespec="seconds")
    if new:
        deployment.state.write_identity(identity, created)
    mark_hosts(deployment, identity, created)
    store = ReleaseStore(deployment.state)
    current = store.current_release()
    check_version(deployment, store)
    carried = carrier(deployment, image_names(deployment.loaded)) if carrier is not None else None
    if current is not None and current.config_digest == prepared.digest and not (carried and carried.loaded):
        same = _unchanged(deployment, store, prepared)
        if same is not None:
            return same
    images = carried if carried is not None else check_images(deployment, image_names(deployment.loaded))
    release = store.create(
        new_release(deployment, store, prepared, deployment.engine.image_ids(list(images.present)), command),
        prepared.files,
    )
    deployment.progress(f"release {release.id}: {release.config_digest[:12]}")
    result = launch(deployment, store, release, prepared, images, current)
    return result


def _unchanged(deployment: Deployment, store: ReleaseStore, prepared: Prepared) -> DeployResult | None:
    """The no-op result when the running release has this digest and everything is healthy (the
    bootstrap steps are finished first if a previous deploy stopped before them)."""
    containers = deployment.engine.containers(deployment.project)
    if first_problem(expected_services(deployment.settings), containers) is not None:
        return None
    try:
        health = deployment.api_with(prepared.values["WA_API_KEY"]).health(timeout=PROBE_TIMEOUT)
    except ApiError:
        return None
    pointer = store.current()
    result = DeployResult(False, BundleDiff(), containers, health, release=pointer["release"])
    result.config_digest = prepared.digest
    if not pointer.get("bootstrapped"):
        result.admin, result.notes = _bootstrap(deployment, prepared)
        store.set_current(pointer["release"], since=str(pointer.get("since", "")), bootstrapped=True)
    return result


def launch(
    deployment: Deployment,
    store: ReleaseStore,
    release: Release,
    prepared: Prepared,
    images: ImageCheck,
    previous: Release | None,
) -> DeployResult:
    """Apply a written release; on a failed gate bring `previous` back (if any) and raise. Then the
    bootstrap steps, and `release` becomes current. Raises GateError (saying whether it rolled back)."""
    paths, secret_names = changed_since(previous, prepared.files, prepared.values)
    recreate = recreate_for(deployment, prepared.files, paths, secret_names)
    try:
        changes, passed = apply(
            deployment,
            prepared.files,
            api_key=prepared.values["WA_API_KEY"],
            images=images,
            active=release.profiles,
            recreate=recreate,
        )
    except PullFailed as failure:
        store.mark_failed(release.id, str(failure))
        raise
    except (GateError, EngineError) as failure:
        store.mark_failed(release.id, str(failure))
        if previous is None:
            raise
        raise _rolled_back(deployment, store, release, previous, prepared, failure) from None
    since = deployment.now().isoformat(timespec="seconds")
    store.set_current(release.id, since=since, bootstrapped=False)
    admin, notes = _bootstrap(deployment, prepared)
    store.set_current(release.id, since=since, bootstrapped=True)
    pruned = store.prune(deployment.settings.deployment.keep_releases)
    if pruned:
        notes.append(f"releases pruned: {', '.join(pruned)}")
    result = DeployResult(True, changes, passed.containers, passed.health, admin, notes, release.id)
    result.config_digest = prepared.digest
    recreated = f"; recreated {', '.join(recreate)}" if recreate else ""
    result.summary = f"release {release.id}: bundle {describe(changes)}{recreated}"
    return result


def _bootstrap(deployment: Deployment, prepared: Prepared) -> tuple[str, list[str]]:
    api = deployment.api_with(prepared.values["WA_API_KEY"])
    admin = bootstrap.ensure_admin_password(api, prepared.values["WA_ADMIN_PASSWORD"])
    return admin, bootstrap.run_bootstrap(deployment)


def _rolled_back(
    deployment: Deployment,
    store: ReleaseStore,
    failed: Release,
    previous: Release,
    prepared: Prepared,
    failure: GateError | EngineError,
) -> GateError:
    """Bring `previous` back after `failed` failed its gate; the error to raise either way."""
    deployment.progress(
        f"release {failed.id} failed its gate ({failure}); rolling back to release {previous.id}"
    )
    files = store.files(previous.id)
    paths = sorted(p for p, h in file_hashes(files).items() if failed.files.get(p) != h)
    try:
        apply(
            deployment,
            files,
            api_key=prepared.values["WA_API_KEY"],
            images=ImageCheck(),
            active=previous.profiles,
            recreate=recreate_for(deployment, files, paths, []),
        )
    except (GateError, EngineError) as again:
        return GateError(
            f"{failure}; the rollback to release {previous.id} failed too: {again}",
            service=again.service if isinstance(again, GateError) else None,
            logs=again.logs if isinstance(again, GateError) else "",
        )
    return GateError(
        f"{failure}; rolled back to release {previous.id}, which is healthy and serving "
        f"(release {failed.id} is kept, marked failed: `onprem releases`)",
        service=failure.service if isinstance(failure, GateError) else None,
        logs=failure.logs if isinstance(failure, GateError) else "",
    )


def record_running(deployment: Deployment, command: str) -> str | None:
    """A new release of what runs, after a change made outside `deploy` (a secret rotated): the running
    release's files with the digests of the secrets as they are now, so the next deploy sees nothing to
    redo. Returns its id (the running one's when nothing changed), None when nothing runs from here."""
    store = ReleaseStore(deployment.state)
    current = store.current_release()
    if current is None:
        return None
    files = store.files(current.id)
    values = secret_values(deployment)
    prepared = Prepared(files, values, config_digest(deployment.loaded, files, values))
    if prepared.digest == current.config_digest:
        return current.id
    release = store.create(new_release(deployment, store, prepared, current.images, command), files)
    store.set_current(release.id, since=deployment.now().isoformat(timespec="seconds"), bootstrapped=True)
    return release.id
