"""The Swarm stack file (`deployment.target: swarm`): made from the same templates as the compose file,
with what Swarm honours in place of what it ignores, placement by node labels and update orders by what
a service owns."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from onprem.bundle import COMPOSE_FILE
from onprem.config import Settings
from onprem.render import render
from onprem.stack import IGNORED_BY_SWARM, config_name, host_port, update_order

GOLDEN = Path(__file__).parent / "golden" / "swarm"
KIT = {"rules/alerts.yml": "groups: []\n"}


def three_nodes(**swarm: Any) -> dict[str, Any]:
    hosts = [
        {
            "name": "m1",
            "address": "ssh://deploy@10.0.0.1",
            "roles": ["web", "db", "masters", "relay", "exporter"],
        },
        {"name": "w1", "address": "ssh://deploy@10.0.0.2", "roles": ["masters", "coreapps"]},
        {"name": "w2", "address": "ssh://deploy@10.0.0.3", "roles": ["coreapps"]},
    ]
    return {
        "deployment": {"target": "swarm"},
        "client": {"mode": "multiconnect", "shards": 2},
        "hosts": hosts,
        **({"swarm": swarm} if swarm else {}),
    }


VARIANTS: dict[str, dict[str, Any]] = {
    "three-nodes-multiconnect": three_nodes(),
    "one-node-single": {"deployment": {"target": "swarm"}},
}


def stack(data: dict[str, Any]) -> dict[str, Any]:
    files = render(Settings.model_validate(data), kit=KIT)
    document: dict[str, Any] = yaml.safe_load(files[COMPOSE_FILE])
    return document


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_stack_file_matches_golden(variant: str) -> None:
    text = render(Settings.model_validate(VARIANTS[variant]), kit=KIT)[COMPOSE_FILE]
    golden = GOLDEN / f"{variant}.yaml"
    if os.environ.get("UPDATE_GOLDENS"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


def test_one_bundle_for_the_manager_with_the_same_files_as_a_single_host_compose_bundle() -> None:
    swarm = render(Settings.model_validate(three_nodes()), kit=KIT)
    compose = render(Settings.model_validate({"client": {"mode": "multiconnect", "shards": 2}}), kit=KIT)
    assert sorted(swarm) == sorted(compose)
    assert {p: t for p, t in swarm.items() if p != COMPOSE_FILE} == {
        p: t for p, t in compose.items() if p != COMPOSE_FILE
    }
    in_compose = set(yaml.safe_load(compose[COMPOSE_FILE])["services"])
    assert set(stack(three_nodes())["services"]) == in_compose - {"prometheus"}, "monitoring's profile is off"


def test_no_service_keeps_a_key_swarm_ignores_and_each_has_swarms_own_instead() -> None:
    for name, service in stack(three_nodes())["services"].items():
        assert not set(IGNORED_BY_SWARM) & set(service), name
        deploy = service["deploy"]
        assert deploy["restart_policy"]["condition"] == "any", name
        assert deploy["endpoint_mode"] == "dnsrr", name
        assert deploy["update_config"]["failure_action"] == "rollback", name
        assert deploy["rollback_config"]["order"] == deploy["update_config"]["order"], name
        for port in service.get("ports", []):
            assert port["mode"] == "host", name
        assert service["healthcheck"]["test"], name


def test_what_owns_data_or_a_shard_or_a_host_port_updates_stop_first_the_rest_start_first() -> None:
    for service in ("db", "master1", "wacore3", "relay", "redis"):
        assert update_order(service, publishes=False) == "stop-first", service
    assert update_order("exporter", publishes=False) == "start-first"
    assert update_order("waweb", publishes=False) == "start-first"
    # Swarm places no second task on the only node whose host-mode port is taken.
    assert update_order("waweb", publishes=True) == "stop-first"
    orders = {n: s["deploy"]["update_config"]["order"] for n, s in stack(three_nodes())["services"].items()}
    # Multiconnect: the web front holds the API's port, so the web app itself starts first.
    assert {n for n, order in orders.items() if order == "start-first"} == {"waweb"}
    assert orders["wafront"] == "stop-first"


def test_the_database_is_pinned_to_the_db_node_and_the_nodes_spread_over_their_roles_hosts() -> None:
    services = stack(three_nodes())["services"]

    def constraints(name: str) -> list[str]:
        return list(services[name]["deploy"]["placement"]["constraints"])

    assert constraints("db") == ["node.labels.org.onprem.role.db == true"]
    assert constraints("waweb") == ["node.labels.org.onprem.role.web == true"]
    assert constraints("exporter") == ["node.labels.org.onprem.role.web == true"]
    assert constraints("relay") == ["node.labels.org.onprem.role.relay == true"]
    hosts = {
        n: constraints(n)[-1].rsplit(" ", 1)[1]
        for n in ("master1", "master2", "wacore1", "wacore2", "wacore3")
    }
    assert hosts == {"master1": "m1", "master2": "w1", "wacore1": "w1", "wacore2": "w2", "wacore3": "w1"}
    assert constraints("wacore2")[0] == "node.labels.org.onprem.role.coreapps == true"


def test_every_secret_is_a_swarm_secret_from_its_file_and_the_network_an_attachable_overlay() -> None:
    document = stack(three_nodes())
    assert set(document["secrets"]) == {"WA_DB_PASSWORD", "WA_API_KEY", "apikey.header", "RELAY_PATH_TOKEN"}
    for name, spec in document["secrets"].items():
        assert spec == {"file": f"../secrets/{name}"}
    assert document["networks"]["waent"] == {"name": "onprem_net", "driver": "overlay", "attachable": True}
    encrypted = stack(three_nodes(encrypted_network=True))["networks"]["waent"]
    assert encrypted["driver_opts"] == {"encrypted": ""}


def test_a_config_is_named_by_its_content_so_a_change_makes_a_new_one() -> None:
    assert config_name("p", "relay_config", "a: 1\n") != config_name("p", "relay_config", "a: 2\n")
    configs = stack(three_nodes())["configs"]
    assert configs["secret_env"]["name"].startswith("onprem_secret_env_")


def test_compose_ports_become_host_mode_ports_and_ranges_are_refused() -> None:
    assert host_port("127.0.0.1:9090:443") == {
        "target": 443,
        "published": 9090,
        "protocol": "tcp",
        "mode": "host",
    }
    assert host_port("[::1]:53:53/udp")["protocol"] == "udp"
    with pytest.raises(ValueError, match="no Swarm form"):
        host_port("127.0.0.1:8443-8445:8443")
