"""`backup` and `restore`: the settings backup through the API, a dump of the client's databases from
the db container, and the media volume, in one encrypted, checksummed archive (see `archive`).

A restore verifies the whole archive (checksum, password, every member) before it changes anything.
Database passwords are read inside the db container from its secret file, never passed as arguments.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from onprem import __version__
from onprem.errors import ApiError, ConfigError, EngineError
from onprem.ops import archive
from onprem.ops.registration import is_registered
from onprem.ops.runtime import DbKind, Stack

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


def _run_db(stack: Stack, kind: DbKind, script: str, what: str) -> bytes:
    code, out, err = stack.engine.exec(stack.project, "db", ["sh", "-c", script, "sh", stack.db_user])
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
    api: BackupApi, stack: Stack, *, password: str, deployment: str, now: datetime
) -> tuple[bytes, dict[str, Any]]:
    """The archive's bytes and its manifest. Raises ConfigError, ApiError or EngineError."""
    archive.check_password(password)
    members: dict[str, bytes] = {}
    notes: list[str] = []
    try:
        members["settings.txt"] = api.backup_settings(password).encode()
    except ApiError:
        if is_registered(api):
            raise
        notes.append("settings: the client is not registered, so it has no settings backup")
    if stack.db_kind is not None:
        members["db.sql"] = _run_db(stack, stack.db_kind, DUMP[stack.db_kind], "the database dump")
    else:
        notes.append("database: external, not in the archive; back it up with its own tools")
    members["media.tar"] = stack.engine.read_tree(stack.project, stack.web_service, MEDIA_DIR)
    manifest = {
        "created": now.isoformat(),
        "deployment": deployment,
        "db_kind": stack.db_kind,
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
    stack: Stack,
    *,
    data: bytes,
    password: str,
    origin: str,
    wait_healthy: Callable[[], object],
) -> dict[str, Any]:
    """Verify, then restore the database and media with the client stopped, start it, and restore the
    settings through the API when the client comes back unregistered (a fresh database).

    Raises ConfigError (nothing changed) for a corrupted archive, a wrong password or a database kind
    that differs; EngineError or ApiError when a step fails.
    """
    manifest, members = inspect(data, password=password, origin=origin)
    if "db.sql" in members and manifest.get("db_kind") != stack.db_kind:
        raise ConfigError(
            f"{origin}: the backup holds a {manifest.get('db_kind')} database but this deployment runs "
            f"{stack.db_kind or 'an external database'}; restore it into a deployment of the same kind"
        )
    done: dict[str, Any] = {"created": manifest.get("created"), "deployment": manifest.get("deployment")}
    stack.compose("stop", *stack.client_services)
    try:
        if "db.sql" in members and stack.db_kind is not None:
            directory, name = RESTORE_FILE.rsplit("/", 1)
            stack.engine.write_tree(stack.project, "db", directory, _file_tar(name, members["db.sql"]))
            _run_db(stack, stack.db_kind, LOAD[stack.db_kind], "loading the database dump")
            stack.engine.exec(stack.project, "db", ["rm", "-f", RESTORE_FILE])
            done["database"] = "restored"
        if "media.tar" in members:
            stack.engine.write_tree(
                stack.project, stack.web_service, MEDIA_DIR.rsplit("/", 1)[0], members["media.tar"]
            )
            done["media"] = "restored"
    finally:
        stack.compose("start", *stack.client_services)
    wait_healthy()
    settings = members.get("settings.txt")
    if settings and not is_registered(api):
        api.restore_settings(password, settings.decode())
        done["settings"] = "restored"
    else:
        done["settings"] = "skipped (the database already holds them)" if settings else "none in the backup"
    return done
