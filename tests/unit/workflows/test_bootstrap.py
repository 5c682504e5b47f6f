"""`onprem deploy` runs the `bootstrap:` steps in order (certs, registration, webhooks), skipping what
is done; the section is validated like the rest of the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.config import load_settings
from onprem.errors import ConfigError
from onprem.render import expected_services
from onprem.workflows.deploy import deploy as run_deploy
from tests.unit.fakes import RecordingEngine, make_deployment, running
from tests.unit.workflows.fakes import FakeClient

CONFIG = """deployment:
  name: boot
relay:
  tls: {}
secrets:
  extra:
    RELAY_TLS_CERT: {}
    RELAY_TLS_KEY: {}
bootstrap:
  certs: true
  registration:
    cc: "1"
    phone_number: "6315550000"
    cert_file: vname.cert
  webhooks: relay
"""


class BootApi(FakeClient):
    def login(self, username: str, password: str, *, new_password: str | None = None) -> str:
        return "token"


def deploy(tmp_path: Path, api: BootApi, text: str = CONFIG) -> tuple[list[str], RecordingEngine]:
    (tmp_path / "onprem.yaml").write_text(text)
    (tmp_path / "vname.cert").write_text("Q0VSVA==\n")
    loaded = load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)
    engine = RecordingEngine(script=[[running(s) for s in expected_services(loaded.settings)]])
    return run_deploy(make_deployment(tmp_path, engine, api, text)).notes, engine


def test_steps_run_in_order_with_the_relay_cert_issued_before_start_and_core_restarted_for_the_ca(
    tmp_path: Path,
) -> None:
    api = BootApi()
    notes, engine = deploy(tmp_path, api)

    assert [n.split(":")[0] for n in notes] == ["certs", "registration", "webhooks"]
    assert "code sent" in notes[1]
    assert "onprem verify CODE" in notes[1]
    assert notes[2] == "webhooks: url set, ca set"
    restarts = [c for c in engine.calls if c[:3] == ("compose", "boot", "restart")]
    # The relay's certificate exists before the first `up`, so only coreapp restarts (for the new CA).
    assert restarts == [("compose", "boot", "restart", "wacore")]
    assert api.settings["webhooks"]["url"].startswith("https://relay:8443/webhooks/onprem/")
    secrets = tmp_path / ".onprem" / "boot" / "secrets"
    assert (secrets / "RELAY_TLS_CERT").read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_a_second_run_with_everything_done_changes_nothing(tmp_path: Path) -> None:
    api = BootApi()
    deploy(tmp_path, api)
    api.registered = True
    (tmp_path / ".onprem" / "boot" / "current.json").unlink()  # nothing runs: the steps run again

    notes, engine = deploy(tmp_path, api)

    assert notes == [
        "certs: ca kept, web kept, relay kept, relay secrets unchanged",
        "registration: already registered (+1 6315550000)",
        "webhooks: url unchanged, ca unchanged",
    ]
    assert not [c for c in engine.calls if "restart" in c]


def test_webhooks_relay_without_relay_tls_is_a_config_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"set `relay: \{enabled: true, tls: \{\}\}`"):
        deploy(tmp_path, BootApi(), "deployment:\n  name: boot\nbootstrap:\n  webhooks: relay\n")


def test_bootstrap_section_rejects_unknown_keys_and_bad_numbers(tmp_path: Path) -> None:
    (tmp_path / "onprem.yaml").write_text(
        "bootstrap:\n  cert: true\n  registration:\n    cc: '+1'\n    phone_number: '63'\n    cert_file: x\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "onprem.yaml", environ={}, cwd=tmp_path)
    text = str(caught.value)
    assert "bootstrap.cert: unknown key" in text
    assert "bootstrap.registration.cc" in text
    assert "bootstrap.registration.phone_number" in text
