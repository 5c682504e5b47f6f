"""RelaySettings: defaults that work, errors that name the field, secrets only as file paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.errors import ConfigError
from onprem.relay.settings import RelaySettings, load_settings, parse_settings
from onprem.sidecar import split_listen


def test_the_defaults_validate_and_bind_loopback() -> None:
    settings = RelaySettings()
    assert split_listen(settings.listen) == ("127.0.0.1", 8443)
    assert settings.store.data_dir == "/var/lib/onprem-relay"
    assert settings.onprem.path_token_file == "/run/secrets/RELAY_PATH_TOKEN"


def test_a_dump_reads_back_to_equal_settings() -> None:
    settings = parse_settings(
        {
            "delivery": {
                "endpoints": [
                    {"name": "crm", "url": "https://crm.internal/hook", "secret_file": "/run/secrets/CRM"}
                ]
            }
        }
    )
    assert parse_settings(settings.model_dump(mode="json")) == settings


def test_settings_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        RelaySettings().listen = "0.0.0.0:1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bogus": 1}, "relay.bogus: unknown key"),
        ({"listen": "8443"}, "relay.listen"),
        (
            {"onprem": {"path_token_file": "token.txt"}},
            "relay.onprem.path_token_file: must be an absolute path",
        ),
        ({"store": {"backend": "mysql"}}, "relay.store.backend"),
        ({"delivery": {"endpoints": [{"name": "a", "url": "ftp://x"}]}}, "http:// or https://"),
        ({"delivery": {"endpoints": [{"name": "a", "url": "https://u:p@x"}]}}, "must not carry credentials"),
        (
            {"delivery": {"endpoints": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]}},
            "endpoint names must be unique",
        ),
        ({"limits": {"max_body_bytes": 10}}, "relay.limits.max_body_bytes"),
    ],
)
def test_bad_settings_raise_a_config_error_naming_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(data)


def test_secret_files_lists_only_what_the_relay_will_read() -> None:
    assert RelaySettings().secret_files() == ["/run/secrets/RELAY_PATH_TOKEN"]
    settings = parse_settings(
        {
            "cloud": {"enabled": True},
            "tls": {},
            "delivery": {"endpoints": [{"name": "a", "url": "http://x", "secret_file": "/run/secrets/A"}]},
        }
    )
    assert settings.secret_files() == [
        "/run/secrets/RELAY_PATH_TOKEN",
        "/run/secrets/RELAY_APP_SECRET",
        "/run/secrets/RELAY_VERIFY_TOKEN",
        "/run/secrets/RELAY_TLS_CERT",
        "/run/secrets/RELAY_TLS_KEY",
        "/run/secrets/A",
    ]


def test_load_settings_reads_yaml_and_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "relay.yaml"
    path.write_text("")
    assert load_settings(path) == RelaySettings()
    path.write_text("listen: '[::1]:9000'\n")
    assert load_settings(path).listen == "[::1]:9000"
    path.write_text("listen: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"backend": "redis", "redis": {"url": "redis://user:pw@127.0.0.1:6379/0"}}, "use password_file"),
        ({"backend": "redis", "redis": {"url": "http://127.0.0.1:6379"}}, "redis:// or rediss://"),
        ({"backend": "redis", "redis": {"password_file": "secret"}}, "absolute path"),
        ({"backend": "memcached"}, "relay.store.backend"),
        ({"lease_seconds": 5}, "must exceed the longest endpoint timeout"),
    ],
)
def test_bad_store_settings_name_the_field_and_the_fix(store: dict[str, object], message: str) -> None:
    endpoints = [{"name": "crm", "url": "https://crm.internal/hook", "timeout_seconds": 10}]
    with pytest.raises(ConfigError, match=message):
        parse_settings({"store": store, "delivery": {"endpoints": endpoints}})


def test_the_redis_password_file_is_a_secret_the_relay_reads() -> None:
    settings = parse_settings(
        {"store": {"backend": "redis", "redis": {"password_file": "/run/secrets/RELAY_REDIS_PASSWORD"}}}
    )
    assert "/run/secrets/RELAY_REDIS_PASSWORD" in settings.secret_files()
    assert settings.store.redis.key_prefix == "onprem-relay"
