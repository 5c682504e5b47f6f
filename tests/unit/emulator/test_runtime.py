"""Process wiring: where files go, which names the certificate covers, how a core node names itself."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from onprem.emulator import runtime
from onprem.emulator.env import parse_env
from onprem.emulator.runtime import core_identity, open_store, place, server_names
from onprem.errors import StateError


def test_an_explicit_data_dir_holds_the_sqlite_state_named_after_the_prefix(tmp_path: Path) -> None:
    env = parse_env({"WA_DB_NAME_PREFIX": "acme_"})
    placement = place(env, data_dir=str(tmp_path / "data"), state=None)
    assert placement.data_dir == tmp_path / "data"
    assert placement.sqlite_path == tmp_path / "data" / "acme_waent.sqlite3"


def test_state_flag_beats_the_env_which_beats_the_default(tmp_path: Path) -> None:
    env = parse_env({"ONPREM_EMULATOR_SQLITE": str(tmp_path / "env.sqlite3")})
    assert place(env, data_dir=str(tmp_path), state=None).sqlite_path == tmp_path / "env.sqlite3"
    assert place(env, data_dir=str(tmp_path), state=str(tmp_path / "f.db")).sqlite_path == tmp_path / "f.db"


def test_without_a_writable_default_a_temp_dir_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(runtime, "DEFAULT_DATA_DIR", "/proc/no-such-dir/data")
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    placement = place(parse_env({}), data_dir=None, state=None)
    assert placement.data_dir == tmp_path / "onprem-emulator"


def test_an_unwritable_explicit_data_dir_is_a_state_error() -> None:
    with pytest.raises(StateError, match="not writable"):
        place(parse_env({}), data_dir="/proc/no-such-dir", state=None)


def test_certificate_names_are_loopback_hostname_and_configured_names() -> None:
    env = parse_env(
        {"HOSTNAME": "waweb", "WA_WEB_SERVERNAME": "wa.example.com", "WEBAPP_HOSTNAME": "10.0.0.5"}
    )
    assert server_names(env) == ["localhost", "127.0.0.1", "::1", "waweb", "wa.example.com", "10.0.0.5"]


def test_core_identity_uses_coreapp_hostname_and_master_flag() -> None:
    env = parse_env(
        {"HOSTNAME": "0123456789ab", "COREAPP_HOSTNAME": "master1", "WA_MASTER_NODE": "1"},
    )
    identity = core_identity(env)
    assert identity.hostname == "master1"
    assert identity.kind == "master"
    overridden = core_identity(
        parse_env({"HOSTNAME": "wacore", "ONPREM_EMULATOR_CONTAINER_ID": "feedfacecafe"})
    )
    assert overridden.node_id == "wacore:feedfacecafe"


def test_nodes_advertising_one_host_address_are_named_apart_by_their_port() -> None:
    def node_id(ports: str, cid: str) -> str:
        env = {"HOSTNAME": cid, "COREAPP_HOSTNAME": "10.0.0.7", "COREAPP_EXTERNAL_PORTS": ports}
        return core_identity(parse_env({**env, "ONPREM_EMULATOR_CONTAINER_ID": cid})).node_id

    assert node_id("6250,6251,6252,6253", "aaaaaaaaaaaa") == "10.0.0.7:aaaaaaaaaaaa"
    assert node_id("6254,6255,6256,6257", "bbbbbbbbbbbb") == "10.0.0.7:6254:bbbbbbbbbbbb"


def test_a_named_container_keeps_its_hostname_whatever_it_advertises() -> None:
    env = {
        "HOSTNAME": "wacore2",
        "COREAPP_HOSTNAME": "10.0.0.7",
        "COREAPP_EXTERNAL_PORTS": "6254,6255,6256,6257",
    }
    assert core_identity(parse_env(env)).hostname == "wacore2"


def test_open_store_on_sqlite_seeds_the_default_admin(tmp_path: Path) -> None:
    env = parse_env({})
    store = open_store(env, place(env, data_dir=str(tmp_path), state=None), wait_seconds=1)
    try:
        admin = store.get_user("admin")
        assert admin is not None
        assert admin.must_change
    finally:
        store.close()
