"""`cloud.emulator: true`: the Cloud API emulator in the stack (render, images, secrets, checks) and the
Graph URL the tool then calls."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from onprem.cloud_settings import GRAPH_URL, CloudSettings, graph_url_of
from onprem.config import LoadedConfig, load_settings
from onprem.emulator.cloud.settings import load_settings as load_emulator_settings
from onprem.errors import ConfigError
from onprem.render import data_volumes, expected_services, render
from onprem.secrets import entries
from onprem.workflows.prepare import check_cloud_emulator, image_names

IDS = "  phone_number_id: '106540352242922'\n  waba_id: '102290129340398'\n"
REGISTRATION = "bootstrap:\n  registration: {cc: '49', phone_number: '15112345678', cert_file: vname.cert}\n"


def loaded(tmp_path: Path, text: str) -> LoadedConfig:
    path = tmp_path / "onprem.yaml"
    path.write_text(text)
    return load_settings(path, environ={}, cwd=tmp_path)


def emulated(tmp_path: Path, extra: str = REGISTRATION) -> LoadedConfig:
    return loaded(tmp_path, "cloud:\n  emulator: true\n  emulator_port: 9555\n" + IDS + extra)


def test_the_emulator_needs_the_ids_it_plays(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        loaded(tmp_path, "cloud:\n  emulator: true\n")
    assert "cloud.phone_number_id" in str(caught.value)
    assert "cloud.waba_id" in str(caught.value)


def test_the_graph_url_is_the_emulators_unless_one_is_given() -> None:
    on = CloudSettings(emulator=True, emulator_port=9555, phone_number_id="10000001", waba_id="20000002")
    assert graph_url_of(on, "127.0.0.1") == "http://127.0.0.1:9555"
    assert graph_url_of(on, "0.0.0.0") == "http://127.0.0.1:9555"  # noqa: S104 - the operator's wildcard
    assert graph_url_of(on, "fd00::5") == "http://[fd00::5]:9555"
    given = on.model_copy(update={"graph_url": "http://10.0.0.9:1234/"})
    assert graph_url_of(given, "127.0.0.1") == "http://10.0.0.9:1234"
    assert graph_url_of(CloudSettings(), "127.0.0.1") == GRAPH_URL


def test_the_default_stack_has_no_emulator(tmp_path: Path) -> None:
    default = loaded(tmp_path, "deployment: {name: demo}\n")
    assert not any("cloudapi" in name for name in image_names(default))
    assert "cloudapi" not in expected_services(default.settings)
    assert "cloudapiData" not in data_volumes(default.settings)
    assert "CLOUD_API_TOKEN" not in {found.name for found in entries(default)}


def test_enabled_the_stack_runs_its_image_on_the_host_network_with_its_own_volume(tmp_path: Path) -> None:
    config = emulated(tmp_path)
    assert "onprem-emulator/cloudapi:0.1.0" in image_names(config)
    assert "cloudapi" in expected_services(config.settings)
    assert "cloudapiData" in data_volumes(config.settings)
    files = render(config.settings, kit={})
    service = yaml.safe_load(files["compose.yaml"])["services"]["cloudapi"]
    assert service["network_mode"] == "host"
    assert "cloudapiData:/var/lib/onprem-cloudapi" in service["volumes"]
    assert service["healthcheck"]["test"][-1] == "http://127.0.0.1:9555/healthz"


def test_the_rendered_settings_are_what_the_emulator_reads(tmp_path: Path) -> None:
    config = emulated(tmp_path)
    files = render(config.settings, kit={})
    (tmp_path / "cloudapi.yaml").write_text(files["cloudapi.yaml"])
    settings = load_emulator_settings(tmp_path / "cloudapi.yaml")
    number = settings.phone_numbers[0]
    assert (number.id, number.waba_id, number.cc, number.phone_number) == (
        "106540352242922",
        "102290129340398",
        "49",
        "15112345678",
    )
    assert settings.listen == "127.0.0.1:9555"
    compose = yaml.safe_load(files["compose.yaml"])
    mounted = set(compose["services"]["cloudapi"]["secrets"])
    read = {Path(token.file).name for token in settings.tokens} | {Path(settings.app.secret_file or "").name}
    assert read == {"CLOUD_API_TOKEN", "RELAY_APP_SECRET"}
    assert read <= mounted <= set(compose["secrets"])
    assert settings.ca_file is None, "no relay TLS: nothing to trust"


def test_with_relay_tls_the_emulator_trusts_the_internal_ca(tmp_path: Path) -> None:
    config = emulated(tmp_path, REGISTRATION + "relay:\n  tls: {}\n")
    files = render(config.settings, kit={})
    service = yaml.safe_load(files["compose.yaml"])["services"]["cloudapi"]
    compose = yaml.safe_load(files["compose.yaml"])
    target = {c["source"]: c["target"] for c in service["configs"]}["cloudapi_ca"]
    assert yaml.safe_load(files["cloudapi.yaml"])["ca_file"] == target
    assert compose["configs"]["cloudapi_ca"]["file"] == "../certs/root.pem"


def test_the_token_is_a_secret_deploy_resolves_when_the_emulator_runs(tmp_path: Path) -> None:
    names = {found.name for found in entries(emulated(tmp_path))}
    assert "CLOUD_API_TOKEN" in names


def test_a_deploy_without_the_number_to_play_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bootstrap\.registration"):
        check_cloud_emulator(emulated(tmp_path, extra=""))


def test_the_emulator_is_refused_in_a_swarm_stack(tmp_path: Path) -> None:
    config = emulated(tmp_path, REGISTRATION + "deployment:\n  target: swarm\n")
    with pytest.raises(ConfigError, match="host's network"):
        check_cloud_emulator(config)


def test_its_port_may_not_clash_with_another_service(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        loaded(
            tmp_path, "network:\n  web_port: 9555\ncloud:\n  emulator: true\n  emulator_port: 9555\n" + IDS
        )
    assert "cloud.emulator_port: port 9555 is already used by network.web_port" in str(caught.value)
