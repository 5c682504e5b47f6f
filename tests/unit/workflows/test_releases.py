"""Releases: every change is an immutable release; a failed gate brings the previous one back; rollback,
version changes, identity and image checks, all against a fake engine that runs what the bundle says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from onprem.engine.base import ContainerState, VolumeState
from onprem.errors import ConfigError, GateError, StateError
from onprem.releases import ReleaseStore
from onprem.render import IDENTITY_LABEL
from onprem.workflows.apply import mounting
from onprem.workflows.deploy import deploy
from onprem.workflows.rollback import listing, rollback
from onprem.workflows.upgrade import upgrade
from tests.unit.fakes import FakeApi, RecordingEngine, make_deployment, running

BASE = "deployment:\n  name: unit\n  timeout_seconds: 10\n"
BROKEN_PORT = 9999


class StackEngine(RecordingEngine):
    """Runs what the bundle on disk says: a bundle publishing BROKEN_PORT makes the relay unhealthy."""

    def __init__(self, bundle: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bundle = bundle
        self.ups = 0

    def compose(self, bundle_dir: Path, project: str, args: Any, *, profiles: Any = ()) -> str:
        self.ups += args[0] == "up"
        return super().compose(bundle_dir, project, args, profiles=profiles)

    def containers(self, project: str) -> list[ContainerState]:
        self.calls.append(("containers", project))
        compose = (
            (self.bundle / "compose.yaml").read_text() if (self.bundle / "compose.yaml").exists() else ""
        )
        if not self.ups:
            return []
        services = ["db", "wacore", "waweb", "relay", "exporter"]
        broken = f":{BROKEN_PORT}:" in compose
        return [running(s, "unhealthy" if broken and s == "relay" else "healthy") for s in services]


def setup(tmp_path: Path) -> tuple[StackEngine, FakeApi]:
    return StackEngine(tmp_path / ".onprem" / "unit" / "bundle"), FakeApi()


def run(tmp_path: Path, engine: StackEngine, api: FakeApi, extra: str = "") -> Any:
    return deploy(make_deployment(tmp_path, engine, api, BASE + extra))


def test_each_change_is_a_release_and_an_unchanged_deploy_makes_none(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    first = run(tmp_path, engine, api)
    again = run(tmp_path, engine, api)
    third = run(tmp_path, engine, api, "network:\n  exporter_port: 9109\n")
    store = ReleaseStore(make_deployment(tmp_path, engine).state)
    assert (first.release, again.release, third.release) == ("0001", "0001", "0002")
    assert not again.changed
    assert store.ids() == ["0001", "0002"]
    assert store.current()["release"] == "0002"
    manifest = store.read("0002")
    assert manifest.command == "deploy"
    assert manifest.files["compose.yaml"] != store.read("0001").files["compose.yaml"]
    assert set(manifest.secrets) >= {"WA_DB_PASSWORD", "WA_API_KEY"}
    secrets_dir = tmp_path / ".onprem" / "unit" / "secrets"
    text = (store.root / "0002" / "release.json").read_text()
    assert not [f.name for f in secrets_dir.iterdir() if f.read_text() in text], "hashes only, no values"
    assert (store.root / "0002" / "release.json").stat().st_mode & 0o777 == 0o600


def test_a_release_that_fails_its_gate_brings_the_previous_one_back_and_says_so(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    run(tmp_path, engine, api)
    with pytest.raises(GateError) as caught:
        run(tmp_path, engine, api, f"network:\n  relay_port: {BROKEN_PORT}\n")
    message = str(caught.value)
    assert caught.value.service == "relay"
    assert "rolled back to release 0001, which is healthy and serving" in message
    store = ReleaseStore(make_deployment(tmp_path, engine).state)
    assert store.current()["release"] == "0001"
    assert store.failure("0002") is not None
    bundle = (tmp_path / ".onprem" / "unit" / "bundle" / "compose.yaml").read_text()
    assert f":{BROKEN_PORT}:" not in bundle, "the bundle on disk is the previous release's again"
    assert not [c for c in engine.calls if "down" in c or "--volumes" in c], "data volumes are never touched"
    assert [r["status"] for r in listing(make_deployment(tmp_path, engine))["releases"]] == [
        "running",
        "failed",
    ]


def test_a_first_release_that_fails_has_nothing_to_roll_back_to(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    with pytest.raises(GateError) as caught:
        run(tmp_path, engine, api, f"network:\n  relay_port: {BROKEN_PORT}\n")
    assert "rolled back" not in str(caught.value)
    assert ReleaseStore(make_deployment(tmp_path, engine).state).current() == {}


def test_rollback_brings_the_release_before_back_and_a_named_one_on_request(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    run(tmp_path, engine, api)
    run(tmp_path, engine, api, "network:\n  exporter_port: 9109\n")
    done = rollback(make_deployment(tmp_path, engine, api), None)
    assert (done["release"], done["from"]) == ("0001", "0002")
    store = ReleaseStore(make_deployment(tmp_path, engine).state)
    assert store.current()["release"] == "0001"
    assert ":9109:" not in (tmp_path / ".onprem" / "unit" / "bundle" / "compose.yaml").read_text()
    assert rollback(make_deployment(tmp_path, engine, api), "0002")["release"] == "0002"
    with pytest.raises(StateError, match="there is no release '0042'"):
        rollback(make_deployment(tmp_path, engine, api), "0042")


def test_a_version_change_is_refused_naming_the_upgrade_command(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    run(tmp_path, engine, api, "client:\n  version: 2.53.2\n")
    with pytest.raises(ConfigError, match=r"onprem upgrade --version 2.57.2"):
        run(tmp_path, engine, api, "client:\n  version: v2.57.2\n")
    with pytest.raises(ConfigError, match="older than the running release"):
        run(tmp_path, engine, api, "client:\n  version: 2.50.0\n")


def test_a_rollback_across_a_database_upgrade_is_refused_naming_the_restore(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    run(tmp_path, engine, api, "client:\n  version: 2.53.2\n")
    store = ReleaseStore(make_deployment(tmp_path, engine).state)
    # What `onprem upgrade` leaves: a release of the new version that records the upgrade.
    manifest = json.loads((store.root / "0001" / "release.json").read_text())
    upgraded = {**manifest, "id": "0002", "command": "upgrade", "client_version": "2.57.2"}
    upgraded["upgrade"] = {
        "from_version": "2.53.2",
        "to_version": "2.57.2",
        "archive": "/b/pre.onprem-backup",
    }
    store.create(store.read("0001").from_json(upgraded), store.files("0001"))
    store.set_current("0002", since="now", bootstrapped=True)
    with pytest.raises(ConfigError) as caught:
        rollback(make_deployment(tmp_path, engine, api), "0001")
    assert "onprem rollback 0001 --restore /b/pre.onprem-backup" in str(caught.value)
    assert "Nothing was changed" in str(caught.value)


def test_data_of_another_state_directory_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    engine.volume_list = [
        VolumeState("unit_mysqlData", "2026-11-01T10:00:00Z", {IDENTITY_LABEL: "elsewhere"})
    ]
    with pytest.raises(StateError) as caught:
        run(tmp_path, engine, api)
    message = str(caught.value)
    assert "unit_mysqlData (created 2026-11-01T10:00:00Z by elsewhere)" in message
    assert "deployment.state_dir" in message
    assert "onprem down --volumes" in message
    assert not [c for c in engine.calls if c[0] == "compose"]
    assert not (tmp_path / ".onprem" / "unit" / "identity.json").exists()


def test_the_data_volumes_carry_this_state_directorys_identity(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    run(tmp_path, engine, api)
    identity = json.loads((tmp_path / ".onprem" / "unit" / "identity.json").read_text())["id"]
    compose = (tmp_path / ".onprem" / "unit" / "bundle" / "compose.yaml").read_text()
    assert compose.count(f'{IDENTITY_LABEL}: "{identity}"') >= 3


def test_an_image_neither_here_nor_in_a_registry_is_refused_naming_the_tags_there_are(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    engine.absent_images = ("onprem-emulator/web:v2.99.0", "onprem-emulator/coreapp:v2.99.0")
    deployment = make_deployment(tmp_path, engine, api, BASE + "client:\n  version: 2.99.0\n")
    with pytest.raises(ConfigError) as caught:
        deploy(deployment)
    message = str(caught.value)
    assert "onprem-emulator/web:v2.99.0 is not on the host and no registry serves it" in message
    assert "v2.53.2, v2.57.2" in message
    assert not [c for c in engine.calls if c[0] == "compose"]


def test_services_mounting_a_changed_file_or_secret_are_found() -> None:
    compose = """
services:
  relay:
    configs: [{source: relay_config, target: /etc/onprem/relay.yaml}]
    secrets: [RELAY_PATH_TOKEN]
  prometheus:
    volumes: ["./monitoring/rules:/etc/prometheus/rules:ro"]
  waweb:
    secrets: [WA_API_KEY]
configs:
  relay_config: {file: ./relay.yaml}
secrets:
  RELAY_PATH_TOKEN: {file: ../secrets/RELAY_PATH_TOKEN}
  WA_API_KEY: {file: ../secrets/WA_API_KEY}
"""
    assert mounting(compose, ["relay.yaml"], []) == ["relay"]
    assert mounting(compose, ["monitoring/rules/alerts.yml"], []) == ["prometheus"]
    assert mounting(compose, [], ["WA_API_KEY"]) == ["waweb"]
    assert mounting(compose, ["db.env"], []) == []


def test_old_releases_are_pruned_but_never_the_running_one_or_the_one_before(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    for port in range(9200, 9207):
        # BASE ends inside `deployment:`, so the indented key belongs to it.
        run(tmp_path, engine, api, f"  keep_releases: 3\nnetwork:\n  exporter_port: {port}\n")
    store = ReleaseStore(make_deployment(tmp_path, engine).state)
    assert store.ids() == ["0005", "0006", "0007"]
    assert store.current()["release"] == "0007"


def test_an_upgrade_goes_forward_from_a_running_single_instance_only(tmp_path: Path) -> None:
    engine, api = setup(tmp_path)
    with pytest.raises(StateError, match="deploy first, then upgrade"):
        upgrade(make_deployment(tmp_path, engine, api, BASE), "2.57.2")
    run(tmp_path, engine, api, "client:\n  version: 2.57.2\n")
    with pytest.raises(ConfigError, match="an upgrade goes to a newer version"):
        upgrade(make_deployment(tmp_path, engine, api, BASE), "v2.53.2")
    with pytest.raises(ConfigError, match="not a client version"):
        upgrade(make_deployment(tmp_path, engine, api, BASE), "latest")
    assert not [c for c in engine.calls if c[:3] == ("compose", "unit", "stop")], "nothing was stopped"
