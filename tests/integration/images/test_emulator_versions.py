"""The emulator images come in two client versions that carry their version, and Meta's upgrade runs on
them as it does on the real images: the newer coreapp refuses the older database until a one-shot coreapp
of the new tag with WA_DB_UPGRADE=1 (Meta's dbupgrade command) has migrated it; then the older refuses."""

from __future__ import annotations

import time

import pytest

from onprem.emulator.versions import BUILT_VERSIONS
from tests.integration.images.conftest import Sandbox, docker, need_image

pytestmark = pytest.mark.integration

BIN = "/opt/whatsapp/bin"
DATA = "/usr/local/waent/data"  # SQLite state lives here when no WA_DB_ENGINE is set


def core_image(version: str) -> str:
    return f"onprem-emulator/coreapp:{version}"


@pytest.mark.parametrize("version", BUILT_VERSIONS)
@pytest.mark.parametrize("repository", ["onprem-emulator/coreapp", "onprem-emulator/web"])
def test_each_built_version_carries_its_version_in_env_and_label(
    docker_engine: None, repository: str, version: str
) -> None:
    image = f"{repository}:{version}"
    need_image(image)
    template = (
        '{{range .Config.Env}}{{println .}}{{end}}{{index .Config.Labels "org.onprem.emulator.version"}}'
    )
    lines = docker("image", "inspect", "-f", template, image).stdout.splitlines()
    assert f"ONPREM_EMULATOR_VERSION={version}" in lines
    assert lines[-1] == version


def wait_for_log(sandbox: Sandbox, container: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    logs = ""
    while time.monotonic() < deadline:
        done = docker("logs", container, check=False)
        logs = done.stdout + done.stderr
        if text in logs:
            return logs
        time.sleep(0.3)
    pytest.fail(f"{container} never logged {text!r}: {logs[-3000:]}")


def test_the_one_shot_upgrade_of_the_newer_tag_moves_a_database_between_versions(sandbox: Sandbox) -> None:
    old, new = (core_image(version) for version in BUILT_VERSIONS)
    need_image(old)
    need_image(new)
    data = ["-v", f"{sandbox.volume('data')}:{DATA}"]

    first = sandbox.start("old-core", *data, old)
    logs = wait_for_log(sandbox, first, "core listening")
    assert "(schema 3, created, client v2.53.2)" in logs
    docker("stop", "-t", "10", first)

    refused = sandbox.run(*data, new)
    assert refused.returncode == 6, refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        "error: database schema 3 (v2.53) is older than this client (v2.57.2, schema 4): "
        "run the upgrade (a one-shot coreapp with WA_DB_UPGRADE=1)"
    )

    # Meta's dbupgrade service: the new tag, WA_DB_UPGRADE=1, the wait script before the launch script.
    command = [f"{BIN}/wait_on_mysql.sh", f"{BIN}/launch_within_docker.sh"]
    upgraded = sandbox.run(*data, "-e", "WA_DB_UPGRADE=1", new, *command)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database upgraded from schema 3 (v2.53) to schema 4 (v2.57) for client v2.57.2" in upgraded.stderr
    again = sandbox.run(*data, "-e", "WA_DB_UPGRADE=1", new, *command)
    assert again.returncode == 0, again.stderr
    assert "is already current for client v2.57.2: nothing to upgrade" in again.stderr

    downgrade = sandbox.run(*data, old)
    assert downgrade.returncode == 6
    assert "database schema 4 (v2.57) is newer than this client (v2.53.2, schema 3)" in downgrade.stderr

    second = sandbox.start("new-core", *data, new)
    assert "(schema 4, client v2.57.2)" in wait_for_log(sandbox, second, "core listening")
