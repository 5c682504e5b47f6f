"""The first-login bootstrap and the health gate, against fakes."""

from __future__ import annotations

import pytest

from onprem.engine.base import ContainerState
from onprem.errors import ApiError, GateError
from onprem.workflows.bootstrap import ensure_admin_password
from onprem.workflows.gate import first_problem, wait_until_healthy
from tests.unit.fakes import Clock, FakeApi, RecordingEngine, running

SERVICES = ["db", "wacore", "waweb"]


def test_first_deploy_rotates_the_default_admin_password() -> None:
    api = FakeApi()
    assert ensure_admin_password(api, "N3w#pass") == "rotated"
    assert api.admin_password == "N3w#pass"
    assert api.logins[-1] == ("admin", "secret", "N3w#pass")


def test_second_deploy_finds_the_password_already_set() -> None:
    api = FakeApi(admin_password="N3w#pass", changed=True)
    assert ensure_admin_password(api, "N3w#pass") == "already set"
    assert len(api.logins) == 1


def test_password_changed_elsewhere_is_a_clear_error() -> None:
    api = FakeApi(admin_password="other", changed=True)
    with pytest.raises(ApiError, match="changed outside onprem"):
        ensure_admin_password(api, "N3w#pass")


def test_gate_passes_when_all_healthy_and_api_answers() -> None:
    clock = Clock()
    engine = RecordingEngine(
        script=[[running(s, "starting") for s in SERVICES], [running(s) for s in SERVICES]]
    )
    result = wait_until_healthy(
        engine=engine,
        project="p",
        expected=SERVICES,
        probe=lambda: {"gateway_status": "unregistered"},
        timeout=10,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.health == {"gateway_status": "unregistered"}


def test_gate_fails_at_once_naming_an_exited_service_with_its_logs() -> None:
    clock = Clock()
    dead = ContainerState(service="wacore", name="p-wacore-1", state="exited", health=None, exit_code=1)
    engine = RecordingEngine(
        script=[[running("db"), dead, running("waweb")]], service_logs={"wacore": "boom\n"}
    )
    with pytest.raises(GateError) as caught:
        wait_until_healthy(
            engine=engine,
            project="p",
            expected=SERVICES,
            probe=dict,
            timeout=300,
            clock=clock,
            sleep=clock.sleep,
        )
    assert caught.value.service == "wacore"
    assert "exited (exit code 1)" in str(caught.value)
    assert caught.value.logs == "boom\n"
    assert clock.now == 0.0


def test_gate_times_out_naming_the_web_service_when_the_api_never_answers() -> None:
    clock = Clock()
    engine = RecordingEngine(script=[[running(s) for s in SERVICES]])

    def probe() -> dict[str, str]:
        raise ApiError("refused", endpoint="GET /v1/health")

    with pytest.raises(GateError, match=r"service waweb is running but the API did not answer .* after 5 s"):
        wait_until_healthy(
            engine=engine,
            project="p",
            expected=SERVICES,
            probe=probe,
            timeout=5,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.now >= 5


def test_first_problem_reports_a_missing_container() -> None:
    assert first_problem(SERVICES, [running("db")]) == ("wacore", "has no container", False)
