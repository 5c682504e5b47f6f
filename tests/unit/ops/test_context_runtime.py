"""The operations context (SANs, secrets from files or env, never argv) and the waits after restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onprem.config import load_settings
from onprem.engine.base import ContainerState
from onprem.errors import ApiError, ConfigError, GateError, SecretError
from onprem.ops.context import OpsContext
from onprem.ops.runtime import wait_for_api, wait_ready
from tests.unit.fakes import RecordingEngine, running


def context(tmp_path: Path, text: str = "", environ: dict[str, str] | None = None) -> OpsContext:
    (tmp_path / "onprem.yaml").write_text(text or "deployment:\n  name: ctx\n")
    loaded = load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)
    return OpsContext(loaded, environ=environ or {})


def test_web_sans_cover_the_server_name_the_service_and_the_bind_address(tmp_path: Path) -> None:
    ctx = context(tmp_path, "client:\n  web_servername: api.example\nnetwork:\n  bind_address: 10.0.0.5\n")
    assert ctx.web_sans() == ["api.example", "waweb", "localhost", "127.0.0.1", "10.0.0.5"]
    assert context(tmp_path, "network:\n  bind_address: 0.0.0.0\n").web_sans() == [
        "localhost",
        "waweb",
        "127.0.0.1",
    ]


def test_secrets_come_from_a_file_or_env_and_a_default_is_generated_once_0600(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    ctx = context(tmp_path, environ={"PW": "from-env"})
    assert ctx.read_secret(str(tmp_path / "pw"), None, "password") == "from-file"
    assert ctx.read_secret(None, "PW", "password") == "from-env"
    first = ctx.read_secret(None, None, "backup password", default_secret="BACKUP_PASSWORD")
    assert first == ctx.read_secret(None, None, "backup password", default_secret="BACKUP_PASSWORD")
    assert (ctx.state.secrets / "BACKUP_PASSWORD").stat().st_mode & 0o777 == 0o600


def test_missing_or_doubled_secret_sources_are_errors(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    with pytest.raises(ConfigError, match="not both"):
        ctx.read_secret("f", "V", "password")
    with pytest.raises(SecretError, match=r"V .* is not set"):
        ctx.read_secret(None, "V", "password")
    with pytest.raises(SecretError, match="cannot read"):
        ctx.read_secret(str(tmp_path / "nope"), None, "password")
    with pytest.raises(ConfigError, match="--password-file"):
        ctx.read_secret(None, None, "password")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_ready_returns_once_the_restarted_services_are_healthy() -> None:
    starting = ContainerState("wacore", "p-wacore-1", "running", "starting", 0)
    engine = RecordingEngine(script=[[starting], [starting], [running("wacore")]])
    clock = Clock()
    wait_ready(engine, "p", ["wacore"], clock=clock, sleep=clock.sleep)
    assert clock.now == 2.0


def test_wait_ready_gives_up_with_a_gate_error() -> None:
    engine = RecordingEngine(script=[[ContainerState("relay", "p-relay-1", "exited", None, 1)]])
    with pytest.raises(GateError, match="relay did not become healthy"):
        wait_ready(engine, "p", ["relay"], clock=Clock(), sleep=lambda _s: None)


def test_wait_for_api_retries_until_health_answers_or_times_out() -> None:
    answers: list[Any] = [ApiError("down"), {"gateway_status": "connected"}]

    class Api:
        def health(self, *, timeout: float | None = None) -> dict[str, Any]:
            answer = answers.pop(0) if answers else ApiError("down")
            if isinstance(answer, Exception):
                raise answer
            return dict(answer)

    clock = Clock()
    assert wait_for_api(Api(), clock=clock, sleep=clock.sleep) == {"gateway_status": "connected"}
    with pytest.raises(GateError, match="did not answer within 5 s"):
        wait_for_api(Api(), timeout=5, clock=clock, sleep=clock.sleep)
