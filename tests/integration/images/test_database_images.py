"""The database images start from an empty volume with a password from a file, let another container on
the network log in over TCP (the driver the emulator uses), keep the secret out of inspect and argv, and
keep their data across a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.images.conftest import (
    MYSQL_IMAGE,
    POSTGRES_IMAGE,
    PROJECT_IMAGE,
    WILDCARDS,
    Sandbox,
    assert_secret_hidden,
    listen_addresses,
    need_image,
)

pytestmark = pytest.mark.integration

SECRET = "/run/secrets/WA_DB_PASSWORD"

MYSQL_CLIENT = """
import json, sys, pymysql
host, mode = sys.argv[1], sys.argv[2]
password = open("/run/secrets/WA_DB_PASSWORD").read().rstrip("\\n")
out = {}
try:
    pymysql.connect(host=host, user="root", password=password + "x", connect_timeout=10)
    out["wrong_password"] = "accepted"
except pymysql.err.OperationalError as exc:
    out["wrong_password"] = exc.args[0]
conn = pymysql.connect(host=host, user="root", password=password, connect_timeout=10, autocommit=True)
cur = conn.cursor()
if mode == "write":
    cur.execute("CREATE DATABASE imgtest")
    cur.execute("CREATE TABLE imgtest.t (v VARCHAR(40))")
    cur.execute("INSERT INTO imgtest.t VALUES ('kept')")
cur.execute("SELECT v FROM imgtest.t")
out["rows"] = [row[0] for row in cur.fetchall()]
cur.execute("SELECT plugin FROM mysql.user WHERE user = 'root' AND host = '%'")
out["plugin"] = cur.fetchone()[0]
print(json.dumps(out))
"""

POSTGRES_CLIENT = """
import json, sys, pg8000.native as pg
host, mode = sys.argv[1], sys.argv[2]
password = open("/run/secrets/WA_DB_PASSWORD").read().rstrip("\\n")
out = {}
try:
    pg.Connection("wa", host=host, password=password + "x", database="wa", timeout=10)
    out["wrong_password"] = "accepted"
except pg.DatabaseError as exc:
    out["wrong_password"] = exc.args[0]["C"]
conn = pg.Connection("wa", host=host, password=password, database="wa", timeout=10)
if mode == "write":
    conn.run("CREATE TABLE t (v text)")
    conn.run("INSERT INTO t VALUES ('kept')")
out["rows"] = [row[0] for row in conn.run("SELECT v FROM t")]
out["listen"] = conn.run("SHOW listen_addresses")[0][0]
print(json.dumps(out))
"""


def client(box: Sandbox, password_file: Path, script: str, server: str, mode: str) -> dict[str, object]:
    """Run SCRIPT in the project image on the sandbox network, the password mounted as a file."""
    done = box.run("-v", f"{password_file}:{SECRET}:ro", PROJECT_IMAGE, "python", "-c", script, server, mode)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_mysql_image_initialises_empty_volume_and_keeps_data_across_restart(sandbox: Sandbox) -> None:
    need_image(MYSQL_IMAGE)
    need_image(PROJECT_IMAGE)
    password, password_file = sandbox.password_file()
    server = sandbox.start(
        "mysql",
        "-v", f"{sandbox.volume('mysql')}:/var/lib/mysql",
        "-v", f"{password_file}:{SECRET}:ro",
        "-e", f"MYSQL_ROOT_PASSWORD_FILE={SECRET}",
        MYSQL_IMAGE,
        "--default-authentication-plugin=mysql_native_password",
    )  # fmt: skip
    probe = ["mysqladmin", "ping", "-h", "127.0.0.1", "--silent"]
    sandbox.wait_ready(server, probe)
    # Loopback and the container's own address, never the wildcard; other containers still reach it.
    addresses = listen_addresses(server)
    assert "0100007F" in addresses, addresses
    assert not addresses & WILDCARDS, addresses

    first = client(sandbox, password_file, MYSQL_CLIENT, server, "write")
    assert first == {"wrong_password": 1045, "rows": ["kept"], "plugin": "mysql_native_password"}
    assert_secret_hidden(server, password)

    sandbox.restart(server)
    sandbox.wait_ready(server, probe)
    again = client(sandbox, password_file, MYSQL_CLIENT, server, "read")
    assert again["rows"] == ["kept"]


def test_postgres_image_initialises_empty_volume_and_keeps_data_across_restart(sandbox: Sandbox) -> None:
    need_image(POSTGRES_IMAGE)
    need_image(PROJECT_IMAGE)
    password, password_file = sandbox.password_file()
    server = sandbox.start(
        "postgres",
        "-v", f"{sandbox.volume('postgres')}:/var/lib/postgresql/data",
        "-v", f"{password_file}:{SECRET}:ro",
        "-e", "POSTGRES_USER=wa",
        "-e", f"POSTGRES_PASSWORD_FILE={SECRET}",
        POSTGRES_IMAGE,
    )  # fmt: skip
    probe = ["pg_isready", "-q", "-h", "127.0.0.1", "-U", "wa"]
    sandbox.wait_ready(server, probe)

    addresses = listen_addresses(server)
    assert "0100007F" in addresses, addresses
    assert not addresses & WILDCARDS, addresses

    first = client(sandbox, password_file, POSTGRES_CLIENT, server, "write")
    # 28P01: invalid_password. The database "wa" exists because POSTGRES_DB defaults to the user.
    listen = str(first.pop("listen"))
    assert first == {"wrong_password": "28P01", "rows": ["kept"]}
    assert listen.startswith("127.0.0.1,"), listen
    assert "*" not in listen, listen
    assert_secret_hidden(server, password)

    sandbox.restart(server)
    sandbox.wait_ready(server, probe)
    again = client(sandbox, password_file, POSTGRES_CLIENT, server, "read")
    assert again["rows"] == ["kept"]


@pytest.mark.parametrize(
    ("image", "env"),
    [(MYSQL_IMAGE, "MYSQL_ROOT_PASSWORD_FILE"), (POSTGRES_IMAGE, "POSTGRES_PASSWORD_FILE")],
)
def test_database_image_refuses_to_initialise_with_an_unreadable_password_file(
    sandbox: Sandbox, image: str, env: str
) -> None:
    need_image(image)
    done = sandbox.run("-e", f"{env}=/run/secrets/absent", image)
    assert done.returncode != 0
    assert f"{env} names /run/secrets/absent" in done.stderr
