"""The migration's target from onprem.yaml and the flags: flags win, the config is the default, and each
missing piece is a ConfigError naming the field and the file; the real seams read, never write."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.errors import ConfigError, SecretError
from onprem.workflows.migrate_setup import Flags, relay_metrics_url, target_of
from tests.unit.fakes import RecordingEngine, make_deployment

CONFIG = """deployment:
  name: unit
relay:
  tls: {{}}
  cloud:
    enabled: {enabled}
cloud:
  phone_number_id: "106540352242922"
  waba_id: "102290129340398"
  webhook_url: https://relay.example.com/webhooks/cloud
  region: DE
bootstrap:
  registration: {{cc: "1", phone_number: "6315550042", cert_file: v.cert, pin_file: pin}}
secrets:
  cloud_token: {{source: file, path: {tmp}/token}}
"""


def deployment(tmp_path: Path, *, enabled: str = "true", token: bool = True) -> object:
    (tmp_path / "pin").write_text("112233\n")
    (tmp_path / "pin").chmod(0o600)
    if token:
        (tmp_path / "token").write_text("EAAG-unit-token-0123456789abcdef\n")
    found = make_deployment(tmp_path, RecordingEngine(), text=CONFIG.format(enabled=enabled, tmp=tmp_path))
    found.secrets.write("RELAY_VERIFY_TOKEN", "verify-token-unit")
    return found


def test_the_config_is_the_default_and_flags_win(tmp_path: Path) -> None:
    found = deployment(tmp_path)
    target = target_of(found, Flags())  # type: ignore[arg-type]
    assert (target.number_digits, target.region, target.pin) == ("16315550042", "DE", "112233")
    assert target.webhook_url == "https://relay.example.com/webhooks/cloud"
    assert target.pin_origin == str(tmp_path / "pin")
    (tmp_path / "other-pin").write_text("445566")
    (tmp_path / "other-pin").chmod(0o600)
    flags = Flags(
        pin_file=tmp_path / "other-pin", region="IN", webhook_url="https://r.example/webhooks/cloud"
    )
    target = target_of(found, flags)  # type: ignore[arg-type]
    assert (target.pin, target.region, target.region_origin) == ("445566", "IN", "--region")
    assert target.webhook_url == "https://r.example/webhooks/cloud"
    assert "EAAG" not in repr(target)


def test_the_relay_cloud_ingress_off_is_refused_naming_the_field_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"relay\.cloud\.enabled is false") as caught:
        target_of(deployment(tmp_path, enabled="false"), Flags())  # type: ignore[arg-type]
    assert str(tmp_path / "onprem.yaml") in str(caught.value)


def test_no_cloud_token_is_refused_naming_the_secret(tmp_path: Path) -> None:
    (tmp_path / "onprem.yaml").unlink(missing_ok=True)
    found = deployment(tmp_path, token=False)
    with pytest.raises(SecretError, match=r"secrets\.cloud_token: cannot read"):
        target_of(found, Flags())  # type: ignore[arg-type]


def test_a_plain_http_webhook_url_flag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HTTPS only"):
        target_of(deployment(tmp_path), Flags(webhook_url="http://relay/webhooks/cloud"))  # type: ignore[arg-type]


def test_the_relay_metrics_are_read_at_its_published_port_over_tls(tmp_path: Path) -> None:
    found = deployment(tmp_path)
    assert relay_metrics_url(found) == "https://127.0.0.1:8443/metrics"  # type: ignore[arg-type]


def test_a_generated_cloud_token_is_never_made_up_for_meta(tmp_path: Path) -> None:
    deployment(tmp_path)
    text = (tmp_path / "onprem.yaml").read_text().split("secrets:")[0]
    found = make_deployment(tmp_path, RecordingEngine(), text=text)
    found.secrets.write("RELAY_VERIFY_TOKEN", "verify-token-unit")
    with pytest.raises(ConfigError, match=r"secrets\.cloud_token: give the Cloud API system-user token"):
        target_of(found, Flags())
    assert not (found.state.secrets / "CLOUD_API_TOKEN").exists()


def test_a_completed_migration_needs_no_pin_to_say_so(tmp_path: Path) -> None:
    found = deployment(tmp_path)
    (tmp_path / "pin").unlink()
    found.state.migration_file.write_text('{"completed": "2026-11-30T18:00:00+00:00", "steps": {}}')
    assert target_of(found, Flags()).pin == ""  # type: ignore[arg-type]


def test_two_step_enable_records_a_hash_of_the_pin_and_disable_forgets_it(tmp_path: Path) -> None:
    from onprem.workflows.account import set_two_step
    from onprem.workflows.pinrecord import pin_matches
    from tests.unit.workflows.fakes import FakeClient

    api = FakeClient()
    (tmp_path / "pin").write_text("112233\n")
    (tmp_path / "pin").chmod(0o600)
    found = make_deployment(tmp_path, RecordingEngine(), api=api)
    found.secrets.write("WA_API_KEY", "k" * 32)
    found.secrets.write("WA_ADMIN_PASSWORD", "p" * 16)
    found.state.pin_ca(b"-----BEGIN CERTIFICATE-----\n")
    assert set_two_step(found, enable=True, pin_file=tmp_path / "pin") == "enabled"
    assert api.pin == "112233"
    assert pin_matches(found.state.two_step_file, "112233")[0] is True
    assert "112233" not in found.state.two_step_file.read_text()
    assert set_two_step(found, enable=False, pin_file=None) == "disabled"
    assert not found.state.two_step_file.exists()
