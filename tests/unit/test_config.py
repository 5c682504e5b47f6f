"""Config: precedence, validation, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.config import load_settings
from onprem.config_source import from_env, from_flags, parse_yaml
from onprem.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "onprem.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ=kwargs.get("environ", {}), cwd=tmp_path)  # type: ignore[arg-type]
    return caught.value.problems


def test_no_file_gives_the_embedded_default(tmp_path: Path) -> None:
    loaded = load_settings(None, environ={}, cwd=tmp_path)
    assert loaded.settings.deployment.name == "onprem"
    assert loaded.settings.client.emulated
    assert loaded.settings.db.engine == "mysql"
    assert loaded.settings.network.bind_address == "127.0.0.1"
    assert loaded.state_dir == tmp_path / ".onprem" / "onprem"


def test_unknown_key_names_file_line_and_valid_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, "deployment:\n  name: demo\nnetwork:\n  web_prot: 9090\n")
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'onprem.yaml'}:4: network.web_prot: unknown key")
    assert "web_port" in found[0]


def test_bad_shard_count_is_rejected_with_the_valid_values(tmp_path: Path) -> None:
    found = problems(tmp_path, "client:\n  mode: multiconnect\n  shards: 3\n")
    assert found == [f"{tmp_path / 'onprem.yaml'}:3: client.shards: must be one of 1, 2, 4, 8, 16, 32"]


def test_wrong_type_is_reported_at_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "network:\n  bind_address: 127.0.0.1\n  web_port: lots\n")
    assert found[0].startswith(f"{tmp_path / 'onprem.yaml'}:3: network.web_port:")
    assert "integer" in found[0]


def test_port_clash_between_services_names_both_fields(tmp_path: Path) -> None:
    found = problems(tmp_path, "network:\n  web_port: 9000\n  relay_port: 9000\n")
    assert found == [
        f"{tmp_path / 'onprem.yaml'}:3: network.relay_port: port 9000 is already used by network.web_port; pick a free port"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, "client:\n  mode: multiconnect\n  shards: 5\ndb:\n  engine: oracle\n")
    assert [p.split(": ")[1] for p in found] == ["client.shards", "db.engine"]


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, "network:\n  web_port: 1\n  web_port: 2\n")
    assert found == [
        f"{tmp_path / 'onprem.yaml'}:3: network.web_port: duplicate key (first set on line 2); keep one"
    ]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "network:\n  web_port: [1,\n")
    assert found[0].startswith(f"{tmp_path / 'onprem.yaml'}:3: invalid YAML")


def test_external_db_needs_its_host(tmp_path: Path) -> None:
    found = problems(tmp_path, "db:\n  engine: external\n")
    assert found == [
        f"{tmp_path / 'onprem.yaml'}:1: db: engine 'external' needs db.external.host (and kind, port, username)"
    ]


def test_single_mode_refuses_shards(tmp_path: Path) -> None:
    found = problems(tmp_path, "client:\n  shards: 2\n")
    assert "client.shards > 1 needs client.mode: multiconnect" in found[0]


def test_precedence_is_defaults_file_env_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "network:\n  web_port: 9100\n  relay_port: 9200\n")
    loaded = load_settings(
        path,
        environ={"ONPREM_NETWORK__RELAY_PORT": "9300", "ONPREM_NETWORK__EXPORTER_PORT": "9400"},
        overrides=["network.exporter_port=9500"],
        cwd=tmp_path,
    )
    network = loaded.settings.network
    assert (network.web_port, network.relay_port, network.exporter_port) == (9100, 9300, 9500)


def test_error_from_environment_names_the_variable(tmp_path: Path) -> None:
    found = problems(tmp_path, "deployment:\n  name: demo\n", environ={"ONPREM_CLIENT__SHARDS": "7"})
    assert found[0].startswith("environment variable ONPREM_CLIENT__SHARDS: client.shards:")


def test_flag_without_equals_sign_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"expected section\.field=value"):
        from_flags(["network.web_port"])


def test_env_overrides_parse_scalars() -> None:
    data, origins = from_env({"ONPREM_MONITORING__ENABLED": "true", "ONPREM_CONFIG": "x", "HOME": "/root"})
    assert data == {"monitoring": {"enabled": True}}
    assert origins[("monitoring", "enabled")] == "environment variable ONPREM_MONITORING__ENABLED"


def test_yaml_origins_point_at_keys() -> None:
    _, origins = parse_yaml("a:\n  b:\n    - x\n    - y\n", "f.yaml")
    assert origins[("a", "b")] == "f.yaml:2"
    assert origins[("a", "b", 1)] == "f.yaml:4"


def test_settings_are_frozen(tmp_path: Path) -> None:
    loaded = load_settings(None, environ={}, cwd=tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        loaded.settings.network.web_port = 1  # type: ignore[misc]


def test_several_relay_replicas_need_the_redis_store(tmp_path: Path) -> None:
    found = problems(tmp_path, "relay:\n  replicas: 2\n")
    assert len(found) == 1
    assert "relay" in found[0]
    assert "relays cannot share one SQLite store" in found[0]
    assert "set store.backend: redis" in found[0]


def test_a_relay_replica_port_clashing_with_another_service_is_named(tmp_path: Path) -> None:
    text = "relay:\n  replicas: 2\n  store:\n    backend: redis\nnetwork:\n  relay_port: 9107\n  exporter_port: 9108\n"
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path / 'onprem.yaml'}:7: network.exporter_port: port 9108 is already used by "
        "network.relay_port (+1, relay replica 2); pick a free port"
    ]


def test_an_extra_secret_may_not_take_a_built_in_name(tmp_path: Path) -> None:
    found = problems(tmp_path, "secrets:\n  extra:\n    WA_DB_PASSWORD: {}\n")
    assert len(found) == 1
    assert "secrets.extra" in found[0]
    assert "WA_DB_PASSWORD is a built-in secret" in found[0]
