"""register / verify: idempotent, resumable, and every wrong input named with what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.errors import ApiError, ConfigError
from onprem.workflows.registration import PendingStore, read_cert, read_pin, register, verify
from tests.unit.workflows.fakes import FakeClient


def run_register(api: FakeClient, tmp_path: Path, pin: str | None = None) -> str:
    return register(
        api,
        PendingStore(tmp_path / "r.json"),
        cc="1",
        phone_number="6315550000",
        method="sms",
        cert="Q0VSVA==",
        pin=pin,
    ).status


def test_register_sends_a_code_records_it_and_verify_finishes(tmp_path: Path) -> None:
    api = FakeClient()
    assert run_register(api, tmp_path) == "code sent"
    assert PendingStore(tmp_path / "r.json").read()["vname"] == "Acme"

    result = verify(api, PendingStore(tmp_path / "r.json"), "123-456")

    assert (result.status, result.number) == ("verified", "+1 6315550000")
    assert api.registered


def test_register_and_verify_again_once_registered_change_nothing(tmp_path: Path) -> None:
    api = FakeClient(registered=True)
    assert run_register(api, tmp_path) == "already registered"
    assert verify(api, PendingStore(tmp_path / "r.json"), "123456").status == "already registered"
    assert api.calls == []


def test_wrong_verification_code_says_what_to_do_and_leaves_the_client_unregistered(tmp_path: Path) -> None:
    api = FakeClient()
    run_register(api, tmp_path)
    with pytest.raises(ApiError, match="refused the verification code; check the code sent by sms to"):
        verify(api, PendingStore(tmp_path / "r.json"), "000000")
    assert not api.registered


def test_malformed_code_is_refused_before_any_call(tmp_path: Path) -> None:
    api = FakeClient()
    with pytest.raises(ConfigError, match="is not a verification code"):
        verify(api, PendingStore(tmp_path / "r.json"), "abc")
    assert "verify" not in api.calls


def test_missing_pin_when_two_step_is_on_names_the_pin_option(tmp_path: Path) -> None:
    api = FakeClient(pin="654321")
    with pytest.raises(ApiError, match=r"two-step verification is on .*--pin-file"):
        run_register(api, tmp_path)
    assert not api.pending
    assert run_register(api, tmp_path, pin="654321") == "code sent"


def test_sunset_block_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ApiError, match="blocks new On-Premises registrations"):
        run_register(FakeClient(sunset=True), tmp_path)


def test_cert_and_pin_files_are_checked(tmp_path: Path) -> None:
    (tmp_path / "cert").write_text("Q0VS\nVA==\n")
    (tmp_path / "bad").write_text("not base64 !!")
    (tmp_path / "pin").write_text("12345\n")
    assert read_cert(tmp_path / "cert") == "Q0VSVA=="
    with pytest.raises(ConfigError, match="is not a base64 verified-name certificate"):
        read_cert(tmp_path / "bad")
    with pytest.raises(ConfigError, match="exactly 6 digits"):
        read_pin(tmp_path / "pin")
    with pytest.raises(ConfigError, match="cannot read"):
        read_cert(tmp_path / "missing")


def test_wrong_pin_is_named_as_wrong_not_missing(tmp_path: Path) -> None:
    api = FakeClient(pin="654321")
    with pytest.raises(ApiError, match="the two-step PIN is wrong"):
        run_register(api, tmp_path, pin="111111")
    assert not api.pending
