"""The Deployment handle (state layout, API access, tunnel kept per command), the SANs the certificates
cover, secrets given by reference on the command line, and the gate after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from onprem.config import load_settings
from onprem.engine.base import ContainerState
from onprem.errors import ConfigError, GateError, SecretError, StateError
from onprem.secrets import from_flags
from onprem.workflows.certs import web_sans
from onprem.workflows.gate import restart
from tests.unit.fakes import FakeApi, RecordingEngine, make_deployment, running


def settings(tmp_path: Path, text: str) -> Any:
    (tmp_path / "onprem.yaml").write_text(text)
    return load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path).settings


def test_web_sans_cover_the_server_name_the_service_and_the_bind_address(tmp_path: Path) -> None:
    text = "client:\n  web_servername: api.example\nnetwork:\n  bind_address: 10.0.0.5\n"
    assert web_sans(settings(tmp_path, text)) == [
        "api.example",
        "waweb",
        "localhost",
        "127.0.0.1",
        "10.0.0.5",
    ]
    assert web_sans(settings(tmp_path, "network:\n  bind_address: 0.0.0.0\n")) == [
        "localhost",
        "waweb",
        "127.0.0.1",
    ]


def test_secrets_given_on_the_command_line_come_from_a_file_or_env(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    env = {"PW": "from-env"}
    assert from_flags(str(tmp_path / "pw"), None, env, what="password", flag="password") == "from-file"
    assert from_flags(None, "PW", env, what="password", flag="password") == "from-env"
    assert from_flags(None, None, env, what="password", flag="password") is None


def test_doubled_or_unreadable_secret_references_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--password-file FILE or --password-env VAR, not both"):
        from_flags("f", "V", {}, what="password", flag="password")
    with pytest.raises(SecretError, match=r"V .* is not set"):
        from_flags(None, "V", {}, what="password", flag="password")
    with pytest.raises(SecretError, match="cannot read"):
        from_flags(str(tmp_path / "nope"), None, {}, what="password", flag="password")


def test_the_api_needs_a_deploy_from_this_state_directory(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path, RecordingEngine(), FakeApi())
    with pytest.raises(StateError, match="run `onprem deploy` first"):
        deployment.api()


class TunnelEngine(RecordingEngine):
    """Counts tunnels opened and closed, like a remote engine's `endpoint`."""

    opened = 0
    closed = 0

    @contextmanager
    def endpoint(self, host: str, port: int) -> Iterator[tuple[str, int]]:  # type: ignore[override]
        type(self).opened += 1
        try:
            yield "127.0.0.1", 40000
        finally:
            type(self).closed += 1


def test_one_tunnel_serves_every_api_call_of_a_command_and_closes_with_it(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path, TunnelEngine(), FakeApi())
    with deployment:
        assert deployment.api_base() == "https://127.0.0.1:40000"
        deployment.api_with("k" * 20)
        deployment.api_with("k" * 20)
        assert (TunnelEngine.opened, TunnelEngine.closed) == (1, 0)
    assert (TunnelEngine.opened, TunnelEngine.closed) == (1, 1)


def test_a_restart_waits_until_the_service_is_healthy_and_the_api_answers(tmp_path: Path) -> None:
    starting = ContainerState("wacore", "p-wacore-1", "running", "starting", 0)
    engine = RecordingEngine(script=[[starting], [starting], [running("wacore")]])
    deployment = make_deployment(tmp_path, engine, FakeApi())
    deployment.secrets.write("WA_API_KEY", "k" * 20)
    result = restart(deployment, ["wacore"])
    assert ("compose", "unit", "restart", "wacore") in engine.calls
    assert result.health == {"gateway_status": "unregistered"}
    assert deployment.clock() == 0.5  # two polls of 0.25 s


def test_a_restart_that_exits_fails_the_gate_naming_the_service_with_its_logs(tmp_path: Path) -> None:
    engine = RecordingEngine(
        script=[[ContainerState("relay", "p-relay-1", "exited", None, 1)]], service_logs={"relay": "boom\n"}
    )
    deployment = make_deployment(tmp_path, engine, FakeApi())
    deployment.secrets.write("WA_API_KEY", "k" * 20)
    with pytest.raises(GateError, match=r"service relay is exited \(exit code 1\)") as caught:
        restart(deployment, ["relay"])
    assert caught.value.logs == "boom\n"
