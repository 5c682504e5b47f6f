"""Client versions and their schemas (pure): parsing, the version table, and the start/upgrade/refuse rule."""

from __future__ import annotations

import pytest

from onprem.emulator.env import DEFAULT_VERSION, parse_env
from onprem.emulator.schema import CHANGES
from onprem.emulator.versions import (
    BUILT_VERSIONS,
    NEWEST_SCHEMA,
    NEWEST_VERSION,
    SCHEMAS,
    ClientVersion,
    SchemaMismatch,
    check_schema,
    schema_label,
    steps_between,
)
from onprem.errors import ConfigError

V2_53 = ClientVersion.parse("v2.53.2")
V2_57 = ClientVersion.parse("v2.57.2")


def test_versions_parse_with_or_without_the_v_and_print_with_it() -> None:
    assert ClientVersion.parse("2.53.2") == ClientVersion(2, 53, 2)
    assert str(ClientVersion.parse(" v2.57.2 ")) == "v2.57.2"
    assert ClientVersion.parse("v2.9.0") < ClientVersion.parse("v2.53.0")
    for bad in ("", "latest", "v2.57", "2.57.2-rc1", "vv2.57.2"):
        with pytest.raises(ValueError, match=r"like v2\.57\.2"):
            ClientVersion.parse(bad)


@pytest.mark.parametrize(
    ("version", "schema"),
    [
        ("v2.41.2", 2),
        ("v2.51.9", 2),
        ("v2.53.0", 3),
        ("v2.53.2", 3),
        ("v2.55.1", 3),
        ("v2.57.2", 4),
        ("v3.0.0", 4),
    ],
)
def test_each_version_runs_the_schema_of_the_newest_line_at_or_below_it(version: str, schema: int) -> None:
    assert ClientVersion.parse(version).schema == schema


def test_the_table_is_ordered_and_every_schema_after_the_base_has_a_change() -> None:
    numbers = [level.number for level in SCHEMAS]
    assert numbers == sorted(numbers)
    assert [level.since for level in SCHEMAS] == sorted(level.since for level in SCHEMAS)
    assert set(CHANGES) == set(numbers[1:])
    assert numbers[-1] == NEWEST_SCHEMA


def test_the_built_versions_span_a_schema_upgrade_and_the_newest_is_the_default() -> None:
    schemas = [ClientVersion.parse(version).schema for version in BUILT_VERSIONS]
    assert schemas == [3, 4]
    assert NEWEST_VERSION == DEFAULT_VERSION == "v2.57.2"
    assert parse_env({}).version == NEWEST_VERSION


def test_the_env_normalises_the_version_and_reads_the_upgrade_flag() -> None:
    env = parse_env({"ONPREM_EMULATOR_VERSION": "2.53.2", "WA_DB_UPGRADE": "1"})
    assert env.version == "v2.53.2"
    assert env.client.schema == 3
    assert env.db_upgrade
    assert not parse_env({}).db_upgrade
    with pytest.raises(ConfigError) as caught:
        parse_env({"ONPREM_EMULATOR_VERSION": "latest", "WA_DB_UPGRADE": "maybe"})
    text = "\n".join(caught.value.problems)
    assert "ONPREM_EMULATOR_VERSION: expected a client version like v2.57.2, got 'latest'" in text
    assert "WA_DB_UPGRADE: expected 1 or 0" in text


def test_labels_name_the_client_line_or_where_an_unknown_schema_stands() -> None:
    assert [schema_label(n) for n in (2, 3, 4)] == ["before v2.53", "v2.53", "v2.57"]
    assert schema_label(9) == "a client newer than v2.57"
    assert schema_label(1) == "an unknown client"


def test_steps_go_one_schema_at_a_time() -> None:
    assert [level.number for level in steps_between(2, 4)] == [3, 4]
    assert [level.number for level in steps_between(3, 4)] == [4]
    assert steps_between(4, 4) == ()


def test_a_matching_schema_is_served_with_or_without_the_upgrade_flag() -> None:
    assert check_schema(4, V2_57, upgrade=False) == "serve"
    assert check_schema(4, V2_57, upgrade=True) == "serve"
    assert check_schema(3, V2_53, upgrade=False) == "serve"


def test_an_older_schema_is_refused_unless_upgrading() -> None:
    with pytest.raises(SchemaMismatch) as caught:
        check_schema(3, V2_57, upgrade=False)
    assert str(caught.value) == (
        "database schema 3 (v2.53) is older than this client (v2.57.2, schema 4): "
        "run the upgrade (a one-shot coreapp with WA_DB_UPGRADE=1)"
    )
    assert caught.value.exit_code == 6
    assert check_schema(3, V2_57, upgrade=True) == "upgrade"
    assert check_schema(2, V2_53, upgrade=True) == "upgrade"


@pytest.mark.parametrize("upgrade", [False, True])
def test_a_newer_schema_is_always_refused(upgrade: bool) -> None:
    with pytest.raises(SchemaMismatch) as caught:
        check_schema(4, V2_53, upgrade=upgrade)
    assert str(caught.value) == (
        "database schema 4 (v2.57) is newer than this client (v2.53.2, schema 3): a client never "
        "downgrades its database; run a client of v2.57 or later, or restore a backup taken before the upgrade"
    )
