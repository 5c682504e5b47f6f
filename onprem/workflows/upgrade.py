"""`onprem upgrade --version X`, in the order Meta's upgrade takes:

    check -> verified backup -> stop the client -> one-shot coreapp of the new version with
    WA_DB_UPGRADE=1 until it exits 0 -> a new release with the new version -> gate

Multiconnect is upgraded without stopping the client: the images reach every host first, the one-shot
migrates the database while the old nodes run, then the Masters and Coreapps are replaced one at a time
(`rolling`), each waited for until the shard map has settled, and the web app last, started beside the
old one behind the web front, so the API never stops answering.

A failed one-shot leaves the database as the migration left it (the emulated client migrates in a
transaction) and brings the previous release back. After a successful migration the older client can no
longer run on the database: a later rollback to it is refused in favour of `rollback --restore` with the
archive taken here, which the release records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from onprem.deployment import WEB_SERVICE, Deployment
from onprem.errors import ConfigError, EngineError, GateError, StateError
from onprem.releases import ReleaseStore
from onprem.render import profiles
from onprem.workflows import backup
from onprem.workflows.apply import bring_images, composes
from onprem.workflows.deploy import launch, new_release
from onprem.workflows.gate import gate
from onprem.workflows.preflight import check_identity, check_images
from onprem.workflows.prepare import image_names, prepare
from onprem.workflows.rollback import UPGRADE
from onprem.workflows.rolling import roll, swap_web
from onprem.workflows.secrets_info import backup_password

UPGRADE_ENV = "WA_DB_UPGRADE=1"


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def target_for(deployment: Deployment, version: str) -> Deployment:
    """The deployment as it will be with client.version = `version` (validated like the config).

    Raises ConfigError for a version that is not one."""
    try:
        client = deployment.settings.client.model_validate(
            {**deployment.settings.client.model_dump(), "version": version}
        )
    except ValidationError as exc:
        raise ConfigError(f"--version: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    settings = deployment.settings.model_copy(update={"client": client})
    return deployment.with_loaded(deployment.loaded.model_copy(update={"settings": settings}))


def upgrade(deployment: Deployment, version: str, *, archive: Path | None = None) -> dict[str, Any]:
    """Upgrade the running client to `version`. Raises ConfigError (nothing changed) for a version that
    is not newer, a missing image; EngineError with the one-shot's output when the database
    upgrade fails (the previous release is back); GateError when the new release is unhealthy."""
    if deployment.settings.deployment.target == "swarm":
        raise ConfigError(
            f"{deployment.loaded.where('deployment', 'target')}: deployment.target: swarm: `onprem upgrade` "
            "(a one-shot database upgrade container, then nodes replaced one by one) is not available for "
            "Swarm yet; nothing was changed"
        )
    store = ReleaseStore(deployment.state)
    current = store.current_release()
    if current is None:
        raise StateError(f"nothing runs from {deployment.state.root}: deploy first, then upgrade")
    new = target_for(deployment, version)
    to_version = new.settings.client.version
    if _parts(to_version) <= _parts(current.client_version):
        raise ConfigError(
            f"--version {version}: the running release {current.id} has client v{current.client_version}; "
            "an upgrade goes to a newer version (to go back, `onprem rollback`)"
        )
    deployment.engine.check()
    check_identity(deployment)
    identity, _new = deployment.state.identity_or_new()
    prepared = prepare(new, identity)
    images = check_images(new, image_names(new.loaded))
    gate(deployment, current.services)  # a healthy start, so a failure is ours to report

    password, _where = backup_password(deployment, None, None, deployment.environ)
    saved = backup.backup_to(deployment, password=password, output=archive)
    backup.inspect(Path(saved["file"]).read_bytes(), password=password, origin=saved["file"])
    deployment.progress(f"verified backup {saved['file']}")

    multiconnect = deployment.settings.client.mode == "multiconnect"
    if multiconnect:
        # The nodes keep running on the old version until each is replaced; the new images must be
        # on their hosts before the one-shot and the roll.
        bring_images(new, composes(new, prepared.files), images, profiles(new.settings))
    else:
        deployment.compose("stop", *deployment.client_services)
    deployment.write_bundles(prepared.files)
    core = deployment.core_services[0]
    deployment.progress(f"upgrading the database: one-shot {core} of v{to_version} with {UPGRADE_ENV}")
    try:
        output = deployment.compose("run", "--rm", "--no-deps", "-T", "-e", UPGRADE_ENV, core)
    except EngineError as failed:
        _restore_previous(deployment, store, current.id)
        raise EngineError(
            f"the database upgrade to v{to_version} failed; release {current.id} (v{current.client_version}) "
            f"runs again and the backup is {saved['file']}. The one-shot said:\n{failed}"
        ) from None
    upgraded = {"from_version": current.client_version, "to_version": to_version, "archive": saved["file"]}
    release = store.create(
        new_release(new, store, prepared, new.engine.image_ids(list(images.present)), UPGRADE, upgraded),
        prepared.files,
    )
    rolled = None
    try:
        if multiconnect:
            api = new.api()
            rolled = roll(new, new.core_services, lambda: api.health(timeout=5))
            rolled.seconds[WEB_SERVICE] = swap_web(new)
            rolled.order.append(WEB_SERVICE)
        result = launch(new, store, release, prepared, images, previous=None)
    except GateError as exc:
        store.mark_failed(release.id, str(exc))
        raise GateError(
            f"{exc}; the database is already upgraded to v{to_version}, so v{current.client_version} "
            "cannot run on it: fix the new release and `onprem deploy`, or go back with "
            f"`onprem rollback {current.id} --restore {saved['file']}`",
            service=exc.service,
            logs=exc.logs,
        ) from None
    return {
        "release": release.id,
        "from_version": current.client_version,
        "to_version": to_version,
        "backup": saved["file"],
        "upgrade_output": output.strip().splitlines()[-5:],
        "rolled": None if rolled is None else {"order": rolled.order, "seconds": rolled.seconds},
        "healthy": bool(result.health),
        "next": f"set client.version: {to_version} in onprem.yaml",
    }


def _restore_previous(deployment: Deployment, store: ReleaseStore, release_id: str) -> None:
    """Bring the release that ran back after a failed one-shot (its containers were only stopped)."""
    files = store.files(release_id)
    deployment.write_bundles(files)
    release = store.read(release_id)
    deployment.engine.compose(
        deployment.state.bundle, deployment.project, ["up", "--detach"], profiles=release.profiles
    )
    gate(deployment, release.services)
