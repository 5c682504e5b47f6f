"""Render: golden bundles for every variant, byte-identical output, valid compose files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from onprem.config import Settings, load_settings
from onprem.render import core_nodes, expected_services, render

GOLDEN = Path(__file__).parent / "golden"
KIT = {"rules/alerts.yml": "groups: []\n", "grafana/dashboards/overview.json": "{}\n"}

VARIANTS: dict[str, dict[str, Any]] = {
    "single-mysql": {},
    "single-postgres": {"db": {"engine": "postgres"}},
    "external-db": {
        "db": {"engine": "external", "external": {"kind": "postgres", "host": "pg.internal", "port": 5432}}
    },
    "multiconnect-2": {"client": {"mode": "multiconnect", "shards": 2}},
    "monitoring": {
        "monitoring": {"enabled": True, "grafana_image": "grafana/grafana-oss:11.2.0"},
        "network": {"bind_address": "10.1.2.3"},
    },
    "relay-tls": {"relay": {"tls": {}}, "monitoring": {"enabled": True}},
    "relay-replicas": {
        "relay": {"tls": {}, "replicas": 3, "store": {"backend": "redis"}},
        "monitoring": {"enabled": True},
    },
    "real-images": {
        "client": {
            "image_registry": "registry.example.com/whatsapp",
            "version": "2.53.1",
            "platform": "linux/x86_64",
        }
    },
}


def settings_for(data: dict[str, Any]) -> Settings:
    return Settings.model_validate(data)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_render_matches_golden(variant: str) -> None:
    files = render(settings_for(VARIANTS[variant]), kit=KIT)
    directory = GOLDEN / variant
    if os.environ.get("UPDATE_GOLDENS"):
        for path, text in files.items():
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / path).write_text(text)
    expected = {str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*") if p.is_file()}
    assert files == expected


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_render_is_byte_identical_for_the_same_input(variant: str) -> None:
    assert render(settings_for(VARIANTS[variant]), kit=KIT) == render(
        settings_for(VARIANTS[variant]), kit=KIT
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_compose_file_satisfies_the_compose_spec(variant: str, reference: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((reference / "compose-spec.json").read_text())
    document = yaml.safe_load(render(settings_for(VARIANTS[variant]), kit=KIT)["compose.yaml"])
    jsonschema.Draft7Validator(schema).validate(document)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_service_has_a_healthcheck_and_the_one_network(variant: str) -> None:
    document = yaml.safe_load(render(settings_for(VARIANTS[variant]), kit=KIT)["compose.yaml"])
    assert list(document["networks"]) == ["waent"]
    for name, service in document["services"].items():
        assert service["healthcheck"]["test"], name
        assert service["networks"] == ["waent"], name
        assert "network_mode" not in service, name
        for port in service.get("ports", []):
            assert isinstance(port, str), name


def test_multiconnect_runs_two_masters_and_shards_plus_one_coreapps() -> None:
    settings = settings_for({"client": {"mode": "multiconnect", "shards": 4}})
    document = yaml.safe_load(render(settings, kit=KIT)["compose.yaml"])
    names = [n.service for n in core_nodes(settings)]
    assert names == ["master1", "master2", "wacore1", "wacore2", "wacore3", "wacore4", "wacore5"]
    for name in names:
        env = document["services"][name]["environment"]
        assert env["COREAPP_HOSTNAME"] == name
        assert env["COREAPP_EXTERNAL_PORTS"] == "6250,6251,6252,6253"
        assert env["WA_APP_MULTICONNECT"] == "1"
        assert ("WA_MASTER_NODE" in env) == name.startswith("master")
    assert document["services"]["waweb"]["environment"]["WA_APP_MULTICONNECT"] == "1"


def test_client_services_keep_metas_command_and_media_volume() -> None:
    document = yaml.safe_load(render(settings_for({"db": {"engine": "postgres"}}), kit=KIT)["compose.yaml"])
    for name in ("wacore", "waweb"):
        service = document["services"][name]
        assert service["command"] == [
            "/opt/whatsapp/bin/wait_on_postgres.sh",
            "/opt/whatsapp/bin/launch_within_docker.sh",
        ]
        assert "whatsappMedia:/usr/local/wamedia" in service["volumes"]
        assert service["cap_drop"] == ["MKNOD"]
        assert service["env_file"] == ["db.env"]


def test_no_secret_value_or_password_variable_is_in_the_compose_file() -> None:
    files = render(settings_for({}), kit=KIT)
    document = yaml.safe_load(files["compose.yaml"])
    for service in document["services"].values():
        env = service.get("environment", {})
        assert not {"WA_DB_PASSWORD", "WA_API_KEY", "MYSQL_ROOT_PASSWORD", "POSTGRES_PASSWORD"} & set(env)
    variables = [
        line.split("=")[0] for line in files["db.env"].splitlines() if line and not line.startswith("#")
    ]
    assert variables == [
        "WA_DB_ENGINE",
        "WA_DB_HOSTNAME",
        "WA_DB_PORT",
        "WA_DB_USERNAME",
        "WA_DB_CONNECTION_IDLE_TIMEOUT",
    ]


def test_external_db_starts_no_database_container() -> None:
    settings = settings_for(VARIANTS["external-db"])
    assert "db" not in yaml.safe_load(render(settings, kit=KIT)["compose.yaml"])["services"]
    assert "db" not in expected_services(settings)
    assert "WA_DB_HOSTNAME=pg.internal\nWA_DB_PORT=5432" in render(settings, kit=KIT)["db.env"]


def test_ports_bind_to_the_configured_address() -> None:
    document = yaml.safe_load(render(settings_for(VARIANTS["monitoring"]), kit=KIT)["compose.yaml"])
    ports = [p for s in document["services"].values() for p in s.get("ports", [])]
    assert ports
    assert all(p.startswith("10.1.2.3:") for p in ports)


def test_thirty_two_shards_render_thirty_five_client_nodes(tmp_path: Path) -> None:
    path = tmp_path / "onprem.yaml"
    path.write_text("client:\n  mode: multiconnect\n  shards: 32\n")
    settings = load_settings(path, environ={}, cwd=tmp_path).settings
    services = yaml.safe_load(render(settings, kit=KIT)["compose.yaml"])["services"]
    assert sum(1 for name in services if name.startswith(("master", "wacore"))) == 2 + 33
