"""The deploy workflow against a recording engine and a scripted API: order of steps and idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.config import load_settings
from onprem.engine.base import ContainerState
from onprem.errors import ConfigError, EngineError, GateError
from onprem.render import expected_services
from onprem.workflows.deploy import DeployResult, deploy
from tests.unit.fakes import FakeApi, RecordingEngine, make_deployment, running


class Run:
    """`deploy` of a config over a fake engine and API, like the old Deployer.run."""

    def __init__(self, tmp_path: Path, engine: RecordingEngine, api: FakeApi, text: str = "") -> None:
        self.deployment = make_deployment(tmp_path, engine, api, text or "deployment:\n  name: unit\n")

    def run(self) -> DeployResult:
        return deploy(self.deployment)


def deployer(tmp_path: Path, engine: RecordingEngine, api: FakeApi, text: str = "") -> Run:
    return Run(tmp_path, engine, api, text)


def healthy(tmp_path: Path) -> list[ContainerState]:
    settings = load_settings(None, environ={}, cwd=tmp_path).settings
    return [running(s) for s in expected_services(settings)]


def test_first_deploy_renders_launches_gates_and_bootstraps(tmp_path: Path) -> None:
    engine = RecordingEngine(script=[healthy(tmp_path)])
    api = FakeApi()
    result = deployer(tmp_path, engine, api).run()
    assert result.changed
    assert result.admin == "rotated"
    assert ("compose", "unit", "up", "--detach", "--remove-orphans", "--quiet-pull") in engine.calls
    assert engine.calls[0] == ("check",)
    assert (tmp_path / ".onprem" / "unit" / "bundle" / "compose.yaml").is_file()
    assert (tmp_path / ".onprem" / "unit" / "ca.pem").read_bytes() == b"CA"
    assert api.admin_password == (tmp_path / ".onprem" / "unit" / "secrets" / "WA_ADMIN_PASSWORD").read_text()


def test_second_deploy_with_nothing_changed_is_a_no_op(tmp_path: Path) -> None:
    engine = RecordingEngine(script=[healthy(tmp_path)])
    api = FakeApi()
    deployer(tmp_path, engine, api).run()
    engine.calls.clear()
    result = deployer(tmp_path, engine, api).run()
    assert not result.changed
    assert not [c for c in engine.calls if c[0] == "compose"]


def test_changed_config_is_applied(tmp_path: Path) -> None:
    engine = RecordingEngine(script=[healthy(tmp_path)])
    api = FakeApi()
    deployer(tmp_path, engine, api).run()
    engine.calls.clear()
    result = deployer(tmp_path, engine, api, "deployment:\n  name: unit\nnetwork:\n  web_port: 9999\n").run()
    assert result.changed
    assert result.diff.changed == ["compose.yaml"]


def test_invalid_secret_stops_before_the_engine_is_touched(tmp_path: Path) -> None:
    engine = RecordingEngine(script=[healthy(tmp_path)])
    text = (
        "deployment:\n  name: unit\nsecrets:\n  api_key:\n    source: command\n    command: [echo, short]\n"
    )
    with pytest.raises(ConfigError, match="WA_API_KEY must be 12-128"):
        deployer(tmp_path, engine, FakeApi(), text).run()
    assert engine.calls == []
    assert not (tmp_path / ".onprem" / "unit" / "bundle").exists()


def test_compose_failure_names_the_exited_dependency(tmp_path: Path) -> None:
    dead = ContainerState(service="db", name="unit-db-1", state="exited", health=None, exit_code=1)
    engine = RecordingEngine(script=[[dead]], service_logs={"db": "mariadbd: fatal\n"})

    def fail(args: object) -> None:
        raise EngineError("dependency failed to start")

    engine.on_compose = fail
    with pytest.raises(GateError) as caught:
        deployer(tmp_path, engine, FakeApi()).run()
    assert caught.value.service == "db"
    assert caught.value.logs == "mariadbd: fatal\n"


@pytest.mark.parametrize("state", ["restarting", "running"])
def test_compose_failure_names_a_dependency_caught_between_two_restarts(tmp_path: Path, state: str) -> None:
    # The db's health check fails, compose gives up, and the engine is restarting it (or has just done so).
    db = ContainerState(service="db", name="unit-db-1", state=state, health="starting", exit_code=1)
    engine = RecordingEngine(script=[[db]], service_logs={"db": "no root password\n"})

    def fail(args: object) -> None:
        raise EngineError("dependency failed to start: container unit-db-1 is unhealthy")

    engine.on_compose = fail
    with pytest.raises(GateError) as caught:
        deployer(tmp_path, engine, FakeApi()).run()
    assert caught.value.service == "db"
    assert caught.value.logs == "no root password\n"


def test_api_url_uses_loopback_for_an_unspecified_bind(tmp_path: Path) -> None:
    path = tmp_path / "onprem.yaml"
    path.write_text("network:\n  bind_address: '::'\n  web_port: 9443\n")
    assert make_deployment(tmp_path, RecordingEngine()).api_url == "https://[::1]:9443"


def test_images_the_host_lacks_are_copied_before_the_stack_starts(tmp_path: Path) -> None:
    engine = RecordingEngine(script=[healthy(tmp_path)], missing_images=("onprem/mysql:8.0",))
    deployer(tmp_path, engine, FakeApi()).run()
    names = [call[0] for call in engine.calls]
    asked = next(call for call in engine.calls if call[0] == "images_to_copy")
    assert "onprem/mysql:8.0" in asked
    assert "onprem-emulator/web:v2.57.2" in asked
    assert "onprem/prometheus:2.42" not in asked, "the monitoring profile is off"
    assert ("copy_images", "onprem/mysql:8.0") in engine.calls
    assert names.index("copy_images") < names.index("compose")


def test_nothing_is_copied_when_the_host_has_every_image(tmp_path: Path) -> None:
    engine = RecordingEngine(script=[healthy(tmp_path)])
    deployer(tmp_path, engine, FakeApi()).run()
    assert "copy_images" not in [call[0] for call in engine.calls]
