"""ExporterSettings: defaults fit the stack, bad values are ConfigErrors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from onprem.errors import ConfigError
from onprem.exporter.settings import (
    ExporterSettings,
    LoginSettings,
    load_settings,
    parse_settings,
    split_listen,
)


def test_defaults_point_at_the_stack_web_service_with_the_pinned_ca() -> None:
    settings = ExporterSettings()
    assert settings.upstream_url == "https://waweb:443"
    assert settings.ca_file == "/usr/local/waent/data/certs/external/ca.pem"
    assert settings.api_key_file == "/run/secrets/WA_API_KEY"
    assert settings.listen == "127.0.0.1:9108"
    assert settings.login is None
    assert settings.stats_db.enabled is False


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        ExporterSettings().listen = "0.0.0.0:1"  # type: ignore[misc]


def test_rendered_dump_reads_back_identically(tmp_path: Path) -> None:
    import yaml

    original = ExporterSettings(login=LoginSettings(username="ops", password_file="/run/secrets/P"))
    path = tmp_path / "exporter.yaml"
    path.write_text("# Rendered\n" + yaml.safe_dump(original.model_dump(mode="json")))
    assert load_settings(path) == original


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text("")
    assert load_settings(path) == ExporterSettings()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"upstream_url": "http://waweb:443"}, "exporter.upstream_url: must be an https:// URL"),
        ({"upstream_url": "https://waweb/v1"}, "no path"),
        ({"upstream_url": "https://u:p@waweb"}, "must not carry credentials"),
        ({"listen": "9108"}, "exporter.listen"),
        ({"listen": "127.0.0.1:70000"}, "outside 1-65535"),
        ({"ca_file": "relative/ca.pem"}, "absolute path"),
        ({"api_key_file": None}, "set api_key_file or login"),
        ({"scrape_timeout_seconds": 1, "scrape_timeout_offset_seconds": 2}, "must be smaller"),
        ({"stats_db": {"cache_ttl_seconds": 0}}, "exporter.stats_db.cache_ttl_seconds"),
        ({"verify_tls": False}, "exporter.verify_tls: unknown key"),
    ],
)
def test_invalid_values_name_the_field(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, origin="exporter.yaml")
    assert any(fragment in line for line in caught.value.problems), caught.value.problems


def test_non_mapping_config_is_an_error() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_settings(["listen"])


def test_unreadable_and_invalid_yaml_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("[::1]:9108", ("::1", 9108)),
        ("exporter:80", ("exporter", 80)),
    ],
)
def test_listen_addresses_split_into_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert split_listen(value) == expected


def test_login_alone_is_enough_auth() -> None:
    settings = parse_settings({"api_key_file": None, "login": {"username": "ops"}})
    assert settings.login is not None
    assert settings.login.password_file == "/run/secrets/WA_ADMIN_PASSWORD"
