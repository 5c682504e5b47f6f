"""Changing the bundled database's password inside its container, before any client is given the new one.

The SQL (which holds the new password) and the password to log in with are written through the engine
as 0600 files into a 0700 directory of the db container; a short script exports the login password from
its file (`MYSQL_PWD` / `PGPASSWORD`, never a process argument), runs the SQL file and removes the
directory. MySQL/MariaDB change every account of the user (`ALTER USER`, one atomic statement),
PostgreSQL its role (`ALTER ROLE ... PASSWORD`, with statement logging off for that session).
"""

from __future__ import annotations

import contextlib
import io
import tarfile
from typing import Literal

from onprem.engine.base import ExecEngine
from onprem.errors import EngineError

DbKind = Literal["mysql", "postgres"]

WORK_PARENT = "/tmp"  # noqa: S108 - inside the db container, removed by the script that reads it
WORK_NAME = "onprem-rotate"
WORK_DIR = f"{WORK_PARENT}/{WORK_NAME}"
AUTH_FILE, SQL_FILE = "auth", "change.sql"

_TAIL = 'rc=$?; rm -rf "$d"; exit $rc'
RUN: dict[DbKind, str] = {
    "mysql": (
        f'd={WORK_DIR}; export MYSQL_PWD="$(cat "$d/{AUTH_FILE}")"; '
        f'mysql -h 127.0.0.1 -u "$1" --batch --skip-column-names < "$d/{SQL_FILE}"; {_TAIL}'
    ),
    "postgres": (
        f'd={WORK_DIR}; export PGPASSWORD="$(cat "$d/{AUTH_FILE}")"; '
        f'psql -h 127.0.0.1 -U "$1" -d postgres -At -q -v ON_ERROR_STOP=1 -f "$d/{SQL_FILE}"; {_TAIL}'
    ),
}
"""The script run in the db container: `$1` is the user name (not a secret)."""


def sql_literal(value: str, kind: DbKind) -> str:
    """`value` as an SQL string literal: quotes doubled, and backslashes too for MySQL/MariaDB (pure)."""
    escaped = value.replace("\\", "\\\\") if kind == "mysql" else value
    return "'" + escaped.replace("'", "''") + "'"


def pg_identifier(name: str) -> str:
    """`name` as a quoted PostgreSQL identifier (pure)."""
    return '"' + name.replace('"', '""') + '"'


def accounts_query(user: str) -> str:
    """The MySQL/MariaDB query listing the hosts of `user`'s accounts (pure)."""
    # The user name is quoted as a literal: no injection (S608 cannot see through sql_literal).
    return f"SELECT Host FROM mysql.user WHERE User = {sql_literal(user, 'mysql')};\n"  # noqa: S608


def change_sql(kind: DbKind, user: str, hosts: list[str], password: str) -> str:
    """The statement that sets `user`'s password (every host's account on MySQL/MariaDB) (pure)."""
    secret = sql_literal(password, kind)
    if kind == "postgres":
        return f"SET log_statement = 'none';\nALTER ROLE {pg_identifier(user)} PASSWORD {secret};\n"
    accounts = ", ".join(
        f"{sql_literal(user, kind)}@{sql_literal(host, kind)} IDENTIFIED BY {secret}" for host in hosts
    )
    return f"ALTER USER {accounts};\n"


def work_tar(auth: str, sql: str) -> bytes:
    """A tar of the work directory: itself 0700, the login password and the SQL 0600 (pure)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo(WORK_NAME)
        directory.type, directory.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(directory)
        for name, text in ((AUTH_FILE, auth), (SQL_FILE, sql)):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"{WORK_NAME}/{name}")
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def run_sql(
    engine: ExecEngine,
    project: str,
    kind: DbKind,
    user: str,
    *,
    login: str,
    sql: str,
    what: str,
    hide: tuple[str, ...] = (),
) -> str:
    """Run `sql` in the db container as `user`, logging in with `login`; its output.

    Raises EngineError naming `what` with the client's last error lines (`login` and `hide` blanked
    out: an error may quote the statement)."""
    engine.write_tree(project, "db", WORK_PARENT, work_tar(login, sql))
    try:
        code, out, err = engine.exec(project, "db", ["sh", "-c", RUN[kind], "sh", user])
    except EngineError:
        with contextlib.suppress(EngineError):
            engine.exec(project, "db", ["rm", "-rf", WORK_DIR])
        raise
    if code != 0:
        tail = "\n".join(err.decode("utf-8", "replace").strip().splitlines()[-5:])
        for secret in (login, *hide):
            tail = tail.replace(secret, "<hidden>")
        raise EngineError(f"{what} in the db container ({kind}) failed with exit {code}:\n{tail}")
    return out.decode("utf-8", "replace")


def change_password(
    engine: ExecEngine, project: str, kind: DbKind, user: str, *, current: str, new: str
) -> None:
    """Set `user`'s password from `current` to `new` in the running db container.

    Raises EngineError when the db container is not running, the login with `current` fails or the
    statement is refused; the password is then unchanged (one statement)."""
    hosts: list[str] = []
    if kind == "mysql":
        what = f"listing {user}'s accounts"
        listed = run_sql(engine, project, kind, user, login=current, sql=accounts_query(user), what=what)
        hosts = [line.strip() for line in listed.splitlines() if line.strip()]
        if not hosts:
            raise EngineError(f"the database has no account named {user} (db.username); nothing was changed")
    run_sql(
        engine,
        project,
        kind,
        user,
        login=current,
        sql=change_sql(kind, user, hosts, new),
        what=f"changing the password of {user}",
        hide=(new, sql_literal(new, kind)[1:-1]),
    )


def check_login(engine: ExecEngine, project: str, kind: DbKind, user: str, password: str) -> None:
    """Log in as `user` with `password` in the db container. Raises EngineError when it is refused."""
    run_sql(engine, project, kind, user, login=password, sql="SELECT 1;\n", what=f"logging in as {user}")
