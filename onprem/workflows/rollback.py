"""`onprem releases` and `onprem rollback [RELEASE]`: list the releases, and bring one back, gated like a
deploy. Data volumes are never touched. A rollback to a client version older than a database upgrade
made since is refused (the older client refuses the newer schema): `--restore ARCHIVE` brings the
database and media back from the backup taken before that upgrade, then the release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onprem.bundle import file_hashes
from onprem.deployment import Deployment
from onprem.engine.compose import up_args
from onprem.errors import ConfigError, StateError
from onprem.releases import Release, ReleaseStore
from onprem.workflows.apply import apply, recreate_for
from onprem.workflows.backup import restore_from
from onprem.workflows.preflight import ImageCheck, check_identity

UPGRADE = "upgrade"


def listing(deployment: Deployment) -> dict[str, Any]:
    """Every release, oldest first, with which one runs and which failed (`onprem releases`)."""
    store = ReleaseStore(deployment.state)
    running = store.current().get("release")
    rows = []
    for release_id in store.ids():
        release = store.read(release_id)
        failure = store.failure(release_id)
        rows.append(
            {
                "id": release.id,
                "created": release.created,
                "by": release.by,
                "command": release.command,
                "client_version": release.client_version,
                "config_digest": release.config_digest,
                "status": "running" if release_id == running else ("failed" if failure else "kept"),
                "failure": failure,
            }
        )
    return {"deployment": deployment.project, "current": running, "releases": rows}


@dataclass(frozen=True)
class Upgrade:
    """A database upgrade made by a release, and the backup taken just before it."""

    release: str
    from_version: str
    to_version: str
    archive: str


def upgrades_between(store: ReleaseStore, after: str, upto: str) -> list[Upgrade]:
    """The database upgrades made by releases after `after`, up to `upto` included."""
    found = []
    for release_id in store.ids():
        if after < release_id <= upto:
            release = store.read(release_id)
            if release.command == UPGRADE and release.upgrade:
                found.append(Upgrade(release_id, **release.upgrade))
    return found


def check_schema(store: ReleaseStore, target: Release, current: Release) -> Upgrade | None:
    """The upgrade that forbids running `target` again now, if any (an older client on a newer schema)."""
    if target.client_version == current.client_version:
        return None
    upgrades = upgrades_between(store, target.id, current.id)
    return upgrades[-1] if upgrades else None


def rollback(
    deployment: Deployment,
    release_id: str | None,
    *,
    restore: Path | None = None,
    password: str = "",
    confirm: Callable[[str], None] = lambda _question: None,
) -> dict[str, Any]:
    """Bring back `release_id` (default: the release before the running one) and gate it.

    Raises StateError when nothing runs or there is no such release, ConfigError when a database
    upgrade stands between (naming `--restore` and the archive), GateError, EngineError."""
    store = ReleaseStore(deployment.state)
    current = store.current_release()
    if current is None:
        raise StateError(
            f"nothing runs from {deployment.state.root} (no current release): deploy first; "
            "`onprem releases` lists what there is"
        )
    target = store.read(release_id) if release_id else store.previous(current.id)
    if target is None:
        raise StateError(
            f"release {current.id} is the first healthy release: there is none before it to roll back to"
        )
    if target.id == current.id and restore is None:
        return {"release": target.id, "status": "already running"}
    blocking = check_schema(store, target, current)
    if blocking is not None and restore is None:
        raise ConfigError(
            f"release {target.id} runs client v{target.client_version}, but release {blocking.release} "
            f"upgraded the database from v{blocking.from_version} to v{blocking.to_version}; that client "
            "refuses the newer schema. Nothing was changed. Restore the backup taken before the upgrade: "
            f"onprem rollback {target.id} --restore {blocking.archive} (messages since the upgrade are lost)"
        )
    check_identity(deployment)  # also the first engine call: it fails clearly when none answers
    files = store.files(target.id)
    api_key = _api_key(deployment)
    if restore is not None:
        done = _with_restore(deployment, target, files, restore, password, confirm)
    else:
        paths = sorted(p for p, h in file_hashes(files).items() if current.files.get(p) != h)
        apply(
            deployment,
            files,
            api_key=api_key,
            images=ImageCheck(),
            active=target.profiles,
            recreate=recreate_for(deployment, files, paths, []),
        )
        done = {}
    store.set_current(target.id, since=deployment.now().isoformat(timespec="seconds"), bootstrapped=True)
    return {"release": target.id, "from": current.id, "status": "rolled back", **done}


def _with_restore(
    deployment: Deployment,
    target: Release,
    files: dict[str, str],
    archive: Path,
    password: str,
    confirm: Callable[[str], None],
) -> dict[str, Any]:
    # The older client cannot start on the newer schema: put the release's containers in place (its
    # clients restart in a loop meanwhile), then restore the pre-upgrade database into them; the restore
    # stops the clients, loads, starts them and gates.
    deployment.write_bundles(files)
    deployment.engine.compose(
        deployment.state.bundle, deployment.project, up_args(), profiles=target.profiles
    )
    done = restore_from(deployment, archive, password=password, confirm=confirm, require_running=["db"])
    return {"restored": done}


def _api_key(deployment: Deployment) -> str:
    key = deployment.secrets.read("WA_API_KEY")
    if key is None:
        raise StateError(f"no API key in {deployment.state.secrets}: this state directory never deployed")
    return key
