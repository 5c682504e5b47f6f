"""Changing a deployment on an SSH host (the isolated host: its own engine and sshd in a network
namespace): plan is inert there too, a failed release is rolled back there, and rollback works."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.changes.snapshot import engine_state, tree_state
from tests.integration.changes.test_safe_deploys import BROKEN_RELAY
from tests.integration.conftest import free_ports
from tests.integration.remote.isolated_host import isolated_host
from tests.integration.remote.test_ssh_deploy import onprem, remote_config

NAME = "it-ssh-changes"


def test_plan_is_inert_on_the_host_and_a_failed_release_is_rolled_back_there(
    tmp_path: Path, stack_images: None
) -> None:
    with isolated_host(tmp_path) as host:
        remote_config(tmp_path, host.address, host.key, NAME, host.known_hosts)
        config = tmp_path / "onprem.yaml"
        try:
            first = onprem(tmp_path, "deploy")
            assert first.returncode == 0, first.stderr

            def files() -> tuple[object, ...]:
                # The state directory here, and the deployment's directory on the host.
                return tree_state(tmp_path / ".onprem"), tree_state(tmp_path / "remote")

            def inert(expect: int) -> dict[str, object]:
                before = engine_state(NAME, host.docker), files()
                done = onprem(tmp_path, "plan", "--json", "--detailed-exitcode")
                assert (engine_state(NAME, host.docker), files()) == before, "plan changed something"
                assert done.returncode == expect, done.stdout + done.stderr
                document: dict[str, object] = json.loads(done.stdout)
                return document

            assert not inert(0)["changes"]
            text = config.read_text()
            old_port = text.split("exporter_port: ")[1].split("\n")[0]
            config.write_text(
                text.replace(f"exporter_port: {old_port}", f"exporter_port: {free_ports(1)[0]}")
            )
            services = {s["service"]: s["action"] for s in inert(2)["services"]}  # type: ignore[union-attr]
            assert services["exporter"] == "recreate"
            assert onprem(tmp_path, "deploy").returncode == 0

            config.write_text(config.read_text() + BROKEN_RELAY)
            failed = onprem(tmp_path, "deploy")
            assert failed.returncode == 4, failed.stderr
            assert "rolled back to release 0002" in failed.stderr
            config.write_text(config.read_text().replace(BROKEN_RELAY, ""))
            status = json.loads(onprem(tmp_path, "status", "--json").stdout)
            assert (status["healthy"], status["release"]["id"]) == (True, "0002")

            back = onprem(tmp_path, "rollback", "--json")
            assert back.returncode == 0, back.stderr
            assert json.loads(back.stdout)["release"] == "0001"
            running = host.docker("ps", "--format", "{{.Names}} {{.Ports}}").stdout
            assert f":{old_port}->9108" in running, running
        finally:
            onprem(tmp_path, "down", "--volumes", "--yes")
