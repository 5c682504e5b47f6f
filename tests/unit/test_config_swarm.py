"""`deployment.target: swarm` and `swarm:` in the config: errors name file, line, field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.config import load_settings
from onprem.errors import ConfigError
from onprem.hosts import HostSettings, node_labels

THREE = """deployment:
  target: swarm
client:
  mode: multiconnect
hosts:
  - name: m1
    address: ssh://root@10.0.0.1
    roles: [{first}]
  - name: w1
    address: ssh://root@10.0.0.2
    roles: [masters, coreapps]
  - name: w2
    address: ssh://root@10.0.0.3
    roles: [{third}]
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "onprem.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={}, cwd=tmp_path)
    return caught.value.problems


def test_target_defaults_to_compose_and_a_typo_names_the_choices(tmp_path: Path) -> None:
    assert load_settings(None, environ={}, cwd=tmp_path).settings.deployment.target == "compose"
    found = problems(tmp_path, "deployment:\n  target: swarn\n")
    assert found[0].startswith(f"{tmp_path / 'onprem.yaml'}:2: deployment.target:")
    assert "'compose'" in found[0]
    assert "'swarm'" in found[0]


def test_swarm_options_without_target_swarm_are_refused_with_the_fix(tmp_path: Path) -> None:
    found = problems(tmp_path, "swarm:\n  encrypted_network: true\n")
    assert found == [
        f"{tmp_path / 'onprem.yaml'}:1: swarm: applies only with deployment.target: swarm; set that, or remove swarm:"
    ]


def test_swarm_options_are_validated(tmp_path: Path) -> None:
    found = problems(
        tmp_path, "deployment:\n  target: swarm\nswarm:\n  convergence_timeout_seconds: 5\n  encrypt: true\n"
    )
    assert any(":4: swarm.convergence_timeout_seconds:" in p and "10" in p for p in found)
    assert any(":5: swarm.encrypt: unknown key" in p and "encrypted_network" in p for p in found)


def test_a_three_node_swarm_config_loads_with_a_single_instance_client_too(tmp_path: Path) -> None:
    path = tmp_path / "onprem.yaml"
    path.write_text(THREE.format(first="web, db, masters, relay, exporter", third="coreapps"))
    settings = load_settings(path, environ={}, cwd=tmp_path).settings
    assert settings.deployment.target == "swarm"
    assert settings.swarm.convergence_timeout_seconds == 300
    single = THREE.replace("client:\n  mode: multiconnect\n", "")
    path.write_text(single.format(first="web, db, relay, exporter", third="coreapps"))
    assert load_settings(path, environ={}, cwd=tmp_path).settings.client.mode == "single"


def test_what_owns_a_node_local_volume_needs_exactly_one_host(tmp_path: Path) -> None:
    found = problems(tmp_path, THREE.format(first="web, db, masters, relay, exporter", third="coreapps, db"))
    assert any(
        "hosts: exactly one host has the role db (its data volume is local to a node); found 2" in p
        for p in found
    )


def test_the_exporter_goes_with_web_and_an_unknown_manager_is_named(tmp_path: Path) -> None:
    text = (
        THREE.format(first="web, db, masters, relay", third="coreapps, exporter") + "swarm:\n  manager: m9\n"
    )
    found = problems(tmp_path, text)
    assert any(":14: hosts.2.roles: role exporter goes with web" in p for p in found), found
    assert any("swarm.manager: 'm9' is no host; name one of m1, w1, w2" in p for p in found), found


def test_what_swarm_does_not_run_yet_is_refused_with_the_way_out(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "deployment:\n  target: swarm\nmonitoring:\n  enabled: true\nrelay:\n  replicas: 2\n  store:\n    backend: redis\n",
    )
    assert any(
        ":4: monitoring.enabled: not available with deployment.target: swarm yet" in p for p in found
    ), found
    assert any(":6: relay.replicas: one relay with deployment.target: swarm" in p for p in found), found


def test_node_labels_come_from_the_roles_and_an_only_host_without_roles_has_them_all() -> None:
    host = HostSettings(name="w1", roles=["masters", "coreapps"])
    assert node_labels(host, only_host=False) == {
        "org.onprem.role.masters": "true",
        "org.onprem.role.coreapps": "true",
        "org.onprem.host": "w1",
    }
    everything = node_labels(HostSettings(), only_host=True)
    assert everything["org.onprem.role.db"] == "true"
    assert everything["org.onprem.host"] == "local"
    assert len(everything) == 8
