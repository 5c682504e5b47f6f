"""`backup` and `restore`: the settings backup through the API, a dump of the client's databases from
the db container, and the media volume, in one encrypted, checksummed archive (see `archive`).

A restore verifies the whole archive (checksum, password, every member) before it changes anything.
Database passwords are read inside the db container from its secret file, never passed as arguments.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from onprem import __version__, archive
from onprem.deployment import WEB_SERVICE, Deployment
from onprem.errors import ApiError, ConfigError, EngineError
from onprem.state import write_private
from onprem.workflows.gate import gate
from onprem.workflows.registration import is_registered

DbKind = Literal["mysql", "postgres"]

MEDIA_DIR = "/usr/local/wamedia"
RESTORE_FILE = "/tmp/onprem-restore.sql"  # noqa: S108 - inside the db container, removed after use
SECRET = "/run/secrets/WA_DB_PASSWORD"  # noqa: S105 - a path, not a value

DUMP = {
    "mysql": (
        f'set -e; export MYSQL_PWD="$(cat {SECRET})"; '
        "dbs=$(mysql -h 127.0.0.1 -u \"$1\" -N -B -e 'SHOW DATABASES' "
        "| grep -Ev '^(information_schema|performance_schema|mysql|sys)$' || true); "
        '[ -z "$dbs" ] && exit 0; '
        'exec mysqldump -h 127.0.0.1 -u "$1" --single-transaction --routines --events '
        "--add-drop-database --databases $dbs"
    ),
    "postgres": (
        'set -e; export PGPASSWORD="$(cat /run/secrets/WA_DB_PASSWORD)"; '
        'for db in $(psql -h 127.0.0.1 -U "$1" -d postgres -At -c '
        "\"SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1\"); "
        'do pg_dump -h 127.0.0.1 -U "$1" --create --clean --if-exists "$db"; done'
    ),
}
LOAD = {
    "mysql": f'export MYSQL_PWD="$(cat {SECRET})"; mysql -h 127.0.0.1 -u "$1" < {RESTORE_FILE}',
    "postgres": (
        f'export PGPASSWORD="$(cat {SECRET})"; '
        f'psql -h 127.0.0.1 -U "$1" -d postgres -q -v ON_ERROR_STOP=1 -f {RESTORE_FILE}'
    ),
}


class BackupApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...

    def backup_settings(self, password: str) -> str: ...

    def restore_settings(self, password: str, data: str) -> None: ...


def bundled_db(deployment: Deployment) -> DbKind | None:
    """The kind of the database the stack runs, None when it is external (not in the stack)."""
    db = deployment.settings.db
    return None if db.engine == "external" else db.kind


def _run_db(deployment: Deployment, kind: DbKind, script: str, what: str) -> bytes:
    argv = ["sh", "-c", script, "sh", deployment.settings.db.username]
    code, out, err = deployment.engine.exec(deployment.project, "db", argv)
    if code != 0:
        tail = "\n".join(err.decode("utf-8", "replace").strip().splitlines()[-5:])
        raise EngineError(f"{what} in the db container ({kind}) failed with exit {code}:\n{tail}")
    return out


def _file_tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def backup(
    api: BackupApi, deployment: Deployment, *, password: str, now: datetime
) -> tuple[bytes, dict[str, Any]]:
    """The archive's bytes and its manifest. Raises ConfigError, ApiError or EngineError."""
    db_kind = bundled_db(deployment)
    archive.check_password(password)
    members: dict[str, bytes] = {}
    notes: list[str] = []
    try:
        members["settings.txt"] = api.backup_settings(password).encode()
    except ApiError:
        if is_registered(api):
            raise
        notes.append("settings: the client is not registered, so it has no settings backup")
    if db_kind is not None:
        members["db.sql"] = _run_db(deployment, db_kind, DUMP[db_kind], "the database dump")
    else:
        notes.append("database: external, not in the archive; back it up with its own tools")
    members["media.tar"] = deployment.engine.read_tree(deployment.project, WEB_SERVICE, MEDIA_DIR)
    manifest = {
        "created": now.isoformat(),
        "deployment": deployment.project,
        "db_kind": db_kind,
        "onprem_version": __version__,
        "notes": notes,
    }
    return archive.encrypt(archive.pack(members, manifest), password), {
        **manifest,
        "members": sorted(members),
        "sizes": {name: len(data) for name, data in sorted(members.items())},
    }


def inspect(data: bytes, *, password: str, origin: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Verify an archive completely (checksum, password, members). Raises ConfigError."""
    return archive.unpack(archive.decrypt(data, password, origin), origin)


def restore(
    api: BackupApi,
    deployment: Deployment,
    *,
    data: bytes,
    password: str,
    origin: str,
    confirm: Callable[[str], None] = lambda _question: None,
    require_running: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Verify, ask `confirm` (which raises to stop), then restore the database and media with the
    client stopped, start and gate it, and restore the settings through the API when the client comes
    back unregistered (a fresh database).

    Raises ConfigError (nothing changed) for a corrupted archive, a wrong password or a database kind
    that differs; EngineError (saying whether anything was restored) or ApiError when a step fails.
    """
    manifest, members = inspect(data, password=password, origin=origin)
    db_kind = bundled_db(deployment)
    if "db.sql" in members and manifest.get("db_kind") != db_kind:
        raise ConfigError(
            f"{origin}: the backup holds a {manifest.get('db_kind')} database but this deployment runs "
            f"{db_kind or 'an external database'}; restore it into a deployment of the same kind"
        )
    default = ["db", WEB_SERVICE] if db_kind is not None else [WEB_SERVICE]
    _check_running(deployment, list(require_running) if require_running is not None else default)
    confirm(
        f"overwrite the database and media of {deployment.project} with the backup of "
        f"{manifest.get('deployment')} made {manifest.get('created')}?"
    )
    done: dict[str, Any] = {"created": manifest.get("created"), "deployment": manifest.get("deployment")}
    clients = deployment.client_services
    deployment.compose("stop", *clients)
    try:
        if "db.sql" in members and db_kind is not None:
            directory, name = RESTORE_FILE.rsplit("/", 1)
            deployment.engine.write_tree(
                deployment.project, "db", directory, _file_tar(name, members["db.sql"])
            )
            _run_db(deployment, db_kind, LOAD[db_kind], "loading the database dump")
            deployment.engine.exec(deployment.project, "db", ["rm", "-f", RESTORE_FILE])
            done["database"] = "restored"
        if "media.tar" in members:
            deployment.engine.write_tree(
                deployment.project, WEB_SERVICE, MEDIA_DIR.rsplit("/", 1)[0], members["media.tar"]
            )
            done["media"] = "restored"
    except EngineError as exc:
        restored = ", ".join(k for k in ("database", "media") if k in done) or "nothing"
        raise EngineError(f"restore stopped: {exc}\nrestored so far: {restored}") from None
    finally:
        deployment.compose("start", *clients)
    gate(deployment, clients)
    settings = members.get("settings.txt")
    if settings and not is_registered(api):
        api.restore_settings(password, settings.decode())
        done["settings"] = "restored"
    else:
        done["settings"] = "skipped (the database already holds them)" if settings else "none in the backup"
    return done


def _check_running(deployment: Deployment, services: list[str]) -> None:
    # Before anything is stopped: a restore that cannot finish must not start.
    running = {c.service for c in deployment.engine.containers(deployment.project) if c.state == "running"}
    missing = [s for s in services if s not in running]
    if missing:
        raise EngineError(
            f"nothing was restored: {', '.join(missing)} of deployment {deployment.project} "
            f"{'is' if len(missing) == 1 else 'are'} not running; start the deployment (`onprem deploy`) "
            "and run the restore again"
        )


def backup_to(deployment: Deployment, *, password: str, output: Path | None) -> dict[str, Any]:
    """`onprem backup`: write the archive (0600) and its `.sha256` beside it; default file in the state
    directory's backups/. Returns the manifest with `file` and `bytes`. Raises as `backup`, StateError."""
    api = deployment.api()
    now = deployment.now()
    data, manifest = backup(api, deployment, password=password, now=now)
    target = output or deployment.state.backups / f"{deployment.project}-{now:%Y%m%dT%H%M%SZ}.onprem-backup"
    write_private(target, data)
    write_private(
        target.with_name(target.name + ".sha256"), archive.checksum_line(data, target.name).encode()
    )
    return {**manifest, "file": str(target), "bytes": len(data)}


def restore_from(
    deployment: Deployment,
    archive_file: Path,
    *,
    password: str,
    confirm: Callable[[str], None] = lambda _question: None,
    require_running: Sequence[str] | None = None,
) -> dict[str, Any]:
    """`onprem restore FILE`: read the archive and `restore` it. Raises ConfigError when unreadable."""
    api = deployment.api()
    try:
        data = archive_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{archive_file}: cannot read the backup ({exc.strerror})") from None
    return restore(
        api,
        deployment,
        data=data,
        password=password,
        origin=str(archive_file),
        confirm=confirm,
        require_running=require_running,
    )
