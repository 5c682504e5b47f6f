"""A client upgrade on real MariaDB and PostgreSQL, with `onprem emulator web|core` processes.

Shows: v2.53.2 creates schema 3 and data (registration, settings, a message each way, media); v2.57.2
core and web refuse that schema with one clear line; a v2.57.2 core with WA_DB_UPGRADE=1 migrates it,
keeps the data and exits 0 without serving (and again finds nothing to do); v2.57.2 web and core then
serve the same data and record their version; v2.53.2 now refuses the newer schema.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from onprem.emulator.env import parse_env
from onprem.emulator.runtime import open_store, place
from tests.integration.emulator.conftest import Database, Role, wait_until
from tests.integration.emulator.test_operations import HOOKS, Admin
from tests.integration.emulator.test_processes import NEW_PASSWORD, start_core, start_web

pytestmark = pytest.mark.integration

OLD, NEW = "v2.53.2", "v2.57.2"
TOO_OLD = (
    "error: database schema 3 (v2.53) is older than this client (v2.57.2, schema 4): "
    "run the upgrade (a one-shot coreapp with WA_DB_UPGRADE=1)"
)
TOO_NEW = "error: database schema 4 (v2.57) is newer than this client (v2.53.2, schema 3)"
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def refusal(role: Role) -> str:
    """The last line of a role that must exit 6 at once."""
    code = role.process.wait(timeout=60)
    output = role.output()
    assert code == 6, output[-3000:]
    return output.strip().splitlines()[-1]


def one_shot(spawn: Callable[..., Role], env: dict[str, str], data_dir: Path) -> str:
    """Run the upgrade as the deploy side does (a v2.57.2 coreapp with WA_DB_UPGRADE=1); its output."""
    role = start_core(spawn, {**env, "WA_DB_UPGRADE": "1"}, data_dir, "dbupgrade")
    code = role.process.wait(timeout=90)
    output = role.output()
    assert code == 0, output[-3000:]
    assert "core listening" not in output  # it did not serve
    return output


def test_a_v2_53_database_is_refused_by_v2_57_until_upgraded_then_served_with_its_data(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    old_env = {**database.env(prefix), **HOOKS, "ONPREM_EMULATOR_VERSION": OLD}
    new_env = {**database.env(prefix), **HOOKS, "ONPREM_EMULATOR_VERSION": NEW}

    # v2.53.2: a fresh database at schema 3, and data in it.
    web_role, web = start_web(spawn, old_env, tmp_path)
    core = start_core(spawn, old_env, tmp_path, "wacore")
    assert "(schema 3, created, client v2.53.2)" in web_role.output() + core.output()
    admin = Admin(web)
    admin.register(tmp_path)
    wait_until(lambda: web.health() == {"gateway_status": "connected"}, what="connected")
    patched = admin.call("PATCH", "/v1/settings/application", {"callback_backoff_delay_ms": 4321})
    assert patched.status_code == 200, patched.text
    assert admin.call("POST", "/_emulator/inbound", {"from": "16315551234", "text": "hi"}).status_code == 201
    text = {"to": "16315551234", "type": "text", "text": {"body": "hello"}}
    sent = admin.call("POST", "/v1/messages", text)
    assert sent.status_code == 201, sent.text
    assert sent.json()["meta"]["version"] == OLD
    upload = admin.call("POST", "/v1/media", data=PICTURE, headers={"Content-Type": "image/png"})
    assert upload.status_code == 201, upload.text
    media_id = upload.json()["media"][0]["id"]
    assert core.stop() == 0
    assert web_role.stop() == 0

    # v2.57.2 core and web refuse schema 3 with one clear line.
    assert refusal(start_core(spawn, new_env, tmp_path, "wacore")) == TOO_OLD
    assert refusal(spawn("web", new_env, "--port", "0", "--data-dir", str(tmp_path))) == TOO_OLD

    # The one-shot upgrade migrates and keeps every row; a second run has nothing to do.
    output = one_shot(spawn, new_env, tmp_path)
    assert "database upgrade: schema 3 -> 4 (v2.57): nodes.client_version" in output
    assert "database upgraded from schema 3 (v2.53) to schema 4 (v2.57) for client v2.57.2" in output
    assert "2 messages, 1 media" in output
    assert "is already current for client v2.57.2: nothing to upgrade" in one_shot(spawn, new_env, tmp_path)

    # v2.57.2 serves the same data, and its core records the version it runs.
    web_role, web = start_web(spawn, new_env, tmp_path)
    core = start_core(spawn, new_env, tmp_path, "wacore")
    wait_until(lambda: web.health() == {"gateway_status": "connected"}, what="connected after the upgrade")
    admin = Admin(web, NEW_PASSWORD, rotate=False)
    settings = admin.call("GET", "/v1/settings/application").json()
    assert settings["meta"]["version"] == NEW
    assert settings["settings"]["application"]["callback_backoff_delay_ms"] == 4321
    assert settings["settings"]["application"]["wa_id"] == "16315550000"
    download = admin.call("GET", f"/v1/media/{media_id}")
    assert (download.status_code, download.content) == (200, PICTURE)
    stored = admin.call("GET", "/v1/stats/db").json()["stats"]["db"]["db_messages"]["data"]
    assert {s["labels"]["type"]: s["value"] for s in stored} == {"sent": 1, "received": 1}
    assert admin.call("POST", "/v1/messages", text).status_code == 201  # the window the inbound opened
    probe_env = parse_env(new_env)
    store = open_store(
        probe_env, place(probe_env, data_dir=str(tmp_path / "probe"), state=None), wait_seconds=30
    )
    try:
        wait_until(lambda: [n.version for n in store.nodes()] == [NEW], what="the core's recorded version")
    finally:
        store.close()
    assert core.stop() == 0
    assert web_role.stop() == 0

    # No way back: v2.53.2 refuses the upgraded database.
    assert refusal(start_core(spawn, old_env, tmp_path, "wacore")).startswith(TOO_NEW)
