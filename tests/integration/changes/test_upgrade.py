"""`onprem upgrade` v2.53.2 -> v2.57.2 on MySQL and PostgreSQL, on the real engine: the data stays, the
one-shot database upgrade really runs, and a rollback across it is refused in favour of a restore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from tests.integration.changes.conftest import Stack, new_stack
from tests.integration.changes.test_safe_deploys import NUMBER
from tests.integration.ops.conftest import vname_cert


def api_of(stack: Stack) -> ApiClient:
    secrets = stack.state / "secrets"
    return ApiClient(
        f"https://127.0.0.1:{stack.web_port}",
        ca_file=stack.state / "ca.pem",
        api_key=(secrets / "WA_API_KEY").read_text(),
        credentials=Credentials("admin", (secrets / "WA_ADMIN_PASSWORD").read_text()),
    )


@pytest.mark.parametrize("db", ["mysql", "postgres"])
def test_an_upgrade_keeps_the_data_and_a_rollback_across_it_is_refused_naming_the_restore(
    tmp_path: Path, stack_images: None, db: str
) -> None:
    stack = new_stack(tmp_path, f"it-upgrade-{db}", db=db, version="2.53.2")
    try:
        stack.ok("deploy")
        (stack.workdir / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
        stack.ok("register", *NUMBER, "--cert", "vname.cert")
        stack.ok("verify", stack.last_registration_code())
        (stack.workdir / "user.pw").write_text("Us3r#pass-word\n")
        stack.ok("users", "create", "opsbot", "--password-file", "user.pw")
        api = api_of(stack)
        api.patch_application_settings({"callback_persist": False})
        media = api.upload_media(b"\xff\xd8 a photo", "image/jpeg")
        stack.ok("send", "--to", "+16315551234", "--text", "before the upgrade", "--wait", "0")

        with stack.watch() as watch:
            done = stack.ok("upgrade", "--version", "2.57.2")
        print(f"\n{db}: upgrade took the API away for {watch.longest_outage():.1f} s")
        assert (done["from_version"], done["to_version"], done["release"]) == ("2.53.2", "2.57.2", "0002")
        archive = Path(done["backup"])
        assert archive.stat().st_mode & 0o777 == 0o600
        assert any("upgraded from schema" in line for line in done["upgrade_output"]), done["upgrade_output"]

        status = stack.ok("status")
        assert (status["healthy"], status["release"]["client_version"]) == (True, "2.57.2")
        assert status["api"]["health"]["gateway_status"] == "connected"
        api = api_of(stack)
        assert api.get_application_settings()["callback_persist"] is False
        assert api.get_media(media)[0] == b"\xff\xd8 a photo"
        assert {"username": "opsbot", "present": True, "role": "USER"} in stack.ok("users", "list")["users"]
        assert stack.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "already registered"

        refused = stack.run("rollback", "0001")
        assert refused.returncode == 2, refused.stderr
        assert f"onprem rollback 0001 --restore {archive}" in refused.stderr
        assert stack.ok("status")["release"]["id"] == "0002", "nothing was changed"

        old_config = stack.run("deploy")
        assert old_config.returncode == 2
        assert "set client.version: 2.57.2" in old_config.stderr
    finally:
        stack.run("down", "--volumes", "--yes")
        assert not [p for p in (stack.state / "secrets").iterdir() if p.stat().st_mode & 0o077], os.listdir(
            stack.state / "secrets"
        )
