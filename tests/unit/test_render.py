"""Render: golden bundles for every variant, byte-identical output, valid compose files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from onprem.config import Settings, load_settings
from onprem.render import expected_services, render
from onprem.topology import core_nodes

GOLDEN = Path(__file__).parent / "golden"
KIT = {"rules/alerts.yml": "groups: []\n", "grafana/dashboards/overview.json": "{}\n"}

VARIANTS: dict[str, dict[str, Any]] = {
    "single-mysql": {},
    "single-postgres": {"db": {"engine": "postgres"}},
    "external-db": {
        "db": {"engine": "external", "external": {"kind": "postgres", "host": "pg.internal", "port": 5432}}
    },
    "db-on-docker-host": {
        "db": {"engine": "external", "external": {"host": "host-gateway"}},
        "network": {"subnet": "172.30.50.0/24"},
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
    "relay-public": {
        "relay": {
            "cloud": {"enabled": True},
            "store": {"backend": "redis"},
            "public": {
                "host_name": "relay.example.com",
                "bind_address": "203.0.113.7",
                "certificate": {"source": "acme", "email": "ops@example.com"},
            },
        },
        "monitoring": {"enabled": True},
    },
    "three-hosts": {
        "client": {"mode": "multiconnect", "shards": 2},
        "hosts": [
            {
                "name": "wa1",
                "address": "ssh://deploy@10.0.0.1",
                "advertise_address": "10.0.0.1",
                "roles": ["web", "db", "masters", "relay", "exporter"],
            },
            {
                "name": "wa2",
                "address": "ssh://deploy@10.0.0.2",
                "advertise_address": "10.0.0.2",
                "roles": ["masters", "coreapps"],
            },
            {
                "name": "wa3",
                "address": "ssh://deploy@10.0.0.3",
                "advertise_address": "10.0.0.3",
                "roles": ["coreapps"],
            },
        ],
    },
    "cloud-emulator": {
        "relay": {"tls": {}, "cloud": {"enabled": True}},
        "cloud": {
            "emulator": True,
            "emulator_port": 9555,
            "phone_number_id": "106540352242922",
            "waba_id": "102290129340398",
            "webhook_url": "https://127.0.0.1:8443/webhooks/cloud",
        },
        "bootstrap": {"registration": {"cc": "1", "phone_number": "6315550000", "cert_file": "vname.cert"}},
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


def compose_documents(variant: str) -> list[dict[str, Any]]:
    """Every compose file of a variant (one per host)."""
    files = render(settings_for(VARIANTS[variant]), kit=KIT)
    return [yaml.safe_load(text) for path, text in sorted(files.items()) if path.endswith("compose.yaml")]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_compose_file_satisfies_the_compose_spec(variant: str, reference: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((reference / "compose-spec.json").read_text())
    for document in compose_documents(variant):
        jsonschema.Draft7Validator(schema).validate(document)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_service_has_a_healthcheck_and_the_one_network(variant: str) -> None:
    for document in compose_documents(variant):
        assert list(document["networks"]) == ["waent"]
        for name, service in document["services"].items():
            assert service["healthcheck"]["test"], name
            if name == "cloudapi":  # plays Meta, an outside party: on the host's network
                assert service["network_mode"] == "host"
                assert "networks" not in service
                continue
            assert service["networks"] == ["waent"], name
            assert "network_mode" not in service, name
            for port in service.get("ports", []):
                assert isinstance(port, str), name


def test_three_hosts_spread_the_nodes_and_reach_the_primary_at_its_address() -> None:
    files = render(settings_for(VARIANTS["three-hosts"]), kit=KIT)
    services = {
        host: sorted(yaml.safe_load(files[f"{host}/compose.yaml"])["services"])
        for host in ("wa1", "wa2", "wa3")
    }
    assert services == {
        "wa1": [
            "db",
            "exporter",
            "master1",
            "prometheus",
            "relay",
            "wafront",
            "waweb",
        ],  # prometheus: a profile
        "wa2": ["master2", "wacore1", "wacore3"],
        "wa3": ["wacore2"],
    }
    wa2 = yaml.safe_load(files["wa2/compose.yaml"])["services"]
    assert wa2["wacore3"]["environment"]["COREAPP_HOSTNAME"] == "10.0.0.2"
    assert wa2["wacore3"]["environment"]["COREAPP_EXTERNAL_PORTS"] == "6258,6259,6260,6261"
    assert wa2["wacore3"]["ports"][0] == "10.0.0.2:6258:6250"
    assert "depends_on" not in wa2["wacore3"], "its master and database are on another host"
    assert "WA_DB_HOSTNAME=10.0.0.1\n" in files["wa3/db.env"]
    assert "relay.yaml" not in {p.split("/", 1)[1] for p in files if not p.startswith("wa1/")}


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
