"""Parsing the real client's env vars into EmulatorEnv."""

from __future__ import annotations

import pytest

from onprem.emulator.env import DEFAULT_CORE_PORTS, parse_env
from onprem.errors import ConfigError


def test_no_db_engine_means_sqlite_with_the_optional_path() -> None:
    env = parse_env({"ONPREM_EMULATOR_SQLITE": "/tmp/x.sqlite3"}, default_hostname="box")
    assert env.db.engine == "SQLITE"
    assert env.db.sqlite_path == "/tmp/x.sqlite3"
    assert env.hostname == "box"
    assert env.coreapp_external_ports == DEFAULT_CORE_PORTS


def test_mysql_env_gets_default_port_and_prefixed_database_name() -> None:
    env = parse_env(
        {
            "WA_DB_ENGINE": "MYSQL",
            "WA_DB_HOSTNAME": "db",
            "WA_DB_USERNAME": "root",
            "WA_DB_PASSWORD": "pw-value",
            "WA_DB_NAME_PREFIX": "acme_",
            "HOSTNAME": "waweb",
        }
    )
    assert (env.db.engine, env.db.hostname, env.db.port, env.db.username) == ("MYSQL", "db", 3306, "root")
    assert env.db.database == "acme_waent"
    assert env.hostname == "waweb"


def test_pgsql_env_reads_the_port() -> None:
    env = parse_env(
        {"WA_DB_ENGINE": "pgsql", "WA_DB_HOSTNAME": "db", "WA_DB_USERNAME": "u", "WA_DB_PORT": "6543"}
    )
    assert (env.db.engine, env.db.port, env.db.database) == ("PGSQL", 6543, "waent")


def test_secrets_stay_out_of_repr_and_descriptions() -> None:
    env = parse_env(
        {
            "WA_DB_ENGINE": "MYSQL",
            "WA_DB_HOSTNAME": "db",
            "WA_DB_USERNAME": "root",
            "WA_DB_PASSWORD": "hunter2-db",
            "WA_API_KEY": "hunter2-api-key",
        }
    )
    assert "hunter2" not in repr(env)
    assert "hunter2" not in env.db.describe()
    assert env.api_key == "hunter2-api-key"


def test_role_flags_and_ports_are_parsed() -> None:
    env = parse_env(
        {
            "WA_APP_MULTICONNECT": "1",
            "WA_MASTER_NODE": "1",
            "COREAPP_HOSTNAME": "master1",
            "COREAPP_EXTERNAL_PORTS": "7250, 7251,7252,7253",
            "WA_WEB_SERVERNAME": "wa.example.com",
            "ONPREM_EMULATOR_SUNSET": "1",
            "ONPREM_EMULATOR_VERSION": "v2.53.1",
        }
    )
    assert env.multiconnect
    assert env.master_node
    assert env.sunset
    assert env.coreapp_hostname == "master1"
    assert env.coreapp_external_ports == (7250, 7251, 7252, 7253)
    assert env.web_servername == "wa.example.com"
    assert env.version == "v2.53.1"


def test_every_problem_is_reported_at_once_without_secret_values() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_env(
            {
                "WA_DB_ENGINE": "MYSQL",
                "WA_DB_PORT": "99999",
                "WA_API_KEY": "short-key",
                "WA_APP_MULTICONNECT": "maybe",
                "WA_DB_NAME_PREFIX": "bad-prefix;",
                "ONPREM_EMULATOR_DB_WAIT": "soon",
            }
        )
    text = "\n".join(caught.value.problems)
    for name in (
        "WA_DB_HOSTNAME",
        "WA_DB_USERNAME",
        "WA_DB_PORT",
        "WA_API_KEY",
        "WA_APP_MULTICONNECT",
        "WA_DB_NAME_PREFIX",
        "ONPREM_EMULATOR_DB_WAIT",
    ):
        assert name in text
    assert "short-key" not in text


def test_unknown_engine_is_rejected() -> None:
    with pytest.raises(ConfigError, match="WA_DB_ENGINE"):
        parse_env({"WA_DB_ENGINE": "ORACLE"})


def test_test_hooks_status_delay_and_media_dir_come_from_the_env() -> None:
    env = parse_env(
        {
            "ONPREM_EMULATOR_TEST_HOOKS": "1",
            "ONPREM_EMULATOR_STATUS_DELAY": "0.25",
            "ONPREM_EMULATOR_MEDIA_DIR": "/media",
        }
    )
    assert (env.test_hooks, env.status_delay, env.media_dir) == (True, 0.25, "/media")
    assert parse_env({}).test_hooks is False


def test_a_bad_status_delay_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ONPREM_EMULATOR_STATUS_DELAY"):
        parse_env({"ONPREM_EMULATOR_STATUS_DELAY": "soon"})
