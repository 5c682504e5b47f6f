"""The archive (encrypted, checksummed) and backup/restore: nothing changes before the whole archive
is verified, and a corrupted file is told apart from a wrong password."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from onprem import archive
from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError, EngineError
from onprem.workflows.backup import backup, restore
from tests.unit.fakes import make_deployment
from tests.unit.workflows.fakes import FakeClient, FakeExecEngine

PASSWORD = "correct horse battery"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def stack(engine: FakeExecEngine, kind: Any = "mysql", api: Any = None) -> Deployment:
    """A deployment named `p` on `kind` (a fresh directory each time: settings differ by kind)."""
    directory = Path(tempfile.mkdtemp())
    engine_key = "postgres" if kind == "postgres" else "mysql"
    text = f"deployment:\n  name: p\n  timeout_seconds: 10\ndb:\n  engine: {engine_key}\n"
    deployment = make_deployment(directory, engine, api, text)
    deployment.secrets.write("WA_API_KEY", "k" * 20)
    return deployment


def make_backup(api: FakeClient | None = None, kind: Any = "mysql") -> tuple[bytes, dict[str, Any]]:
    return backup(
        api or FakeClient(registered=True), stack(FakeExecEngine(), kind), password=PASSWORD, now=NOW
    )


def test_archive_round_trips_and_lists_every_member() -> None:
    data, manifest = make_backup()
    found, members = archive.unpack(archive.decrypt(data, PASSWORD, "f"), "f")
    assert manifest["members"] == ["db.sql", "media.tar", "settings.txt"]
    assert manifest["sizes"]["db.sql"] == len(b"CREATE DATABASE waent;\n")
    assert members["db.sql"] == b"CREATE DATABASE waent;\n"
    assert found["db_kind"] == "mysql"


def test_a_flipped_byte_is_reported_as_corruption() -> None:
    data, _ = make_backup()
    broken = bytearray(data)
    broken[60] ^= 1
    with pytest.raises(ConfigError, match="corrupted"):
        archive.decrypt(bytes(broken), PASSWORD, "f")
    with pytest.raises(ConfigError, match="not an onprem backup"):
        archive.decrypt(data[:20], PASSWORD, "f")


def test_a_wrong_password_is_reported_as_such() -> None:
    data, _ = make_backup()
    with pytest.raises(ConfigError, match="wrong backup password"):
        archive.decrypt(data, "another password", "f")


def test_short_password_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 12"):
        make_backup_with("short")


def make_backup_with(password: str) -> None:
    backup(FakeClient(registered=True), stack(FakeExecEngine()), password=password, now=NOW)


def test_unregistered_client_is_backed_up_without_settings_with_a_note() -> None:
    _, manifest = make_backup(FakeClient(registered=False))
    assert "settings.txt" not in manifest["members"]
    assert "not registered" in manifest["notes"][0]


def test_failed_dump_names_the_db_container_and_exit_code() -> None:
    with pytest.raises(EngineError, match=r"dump in the db container \(mysql\) failed with exit 1"):
        backup(
            FakeClient(registered=True),
            stack(FakeExecEngine(fail_exec=True)),
            password=PASSWORD,
            now=NOW,
        )


@pytest.mark.parametrize("problem", ["corrupted", "wrong password", "other db kind"])
def test_restore_changes_nothing_when_the_archive_is_bad(problem: str) -> None:
    data, _ = make_backup()
    password, kind = PASSWORD, "mysql"
    if problem == "corrupted":
        data = data[:-1] + bytes([data[-1] ^ 1])
    elif problem == "wrong password":
        password = "wrong password!"
    else:
        kind = "postgres"
    engine, api = FakeExecEngine(), FakeClient()
    with pytest.raises(ConfigError):
        restore(api, stack(engine, kind, api=api), data=data, password=password, origin="f")
    assert engine.calls == []
    assert api.calls == []


def test_restore_stops_the_client_loads_db_and_media_starts_it_and_restores_settings_when_unregistered() -> (
    None
):
    data, _ = make_backup()
    engine, api = FakeExecEngine(), FakeClient(registered=False)

    done = restore(api, stack(engine, api=api), data=data, password=PASSWORD, origin="f")

    assert done["database"] == done["media"] == done["settings"] == "restored"
    assert engine.calls[0] == ("compose", "stop", "wacore", "waweb")
    assert ("write_tree", "db", "/tmp") in engine.calls
    assert ("write_tree", "waweb", "/usr/local") in engine.calls
    assert engine.calls[-1] == ("compose", "start", "wacore", "waweb")
    assert api.calls == ["restore_settings"]


def test_restore_into_a_registered_client_keeps_the_database_settings() -> None:
    data, _ = make_backup()
    api = FakeClient(registered=True)
    done = restore(api, stack(FakeExecEngine(), api=api), data=data, password=PASSWORD, origin="f")
    assert done["settings"].startswith("skipped")
    assert api.calls == []


def test_services_are_started_again_when_loading_fails() -> None:
    data, _ = make_backup()
    engine = FakeExecEngine(fail_exec=True)
    with pytest.raises(EngineError):
        restore(FakeClient(), stack(engine, api=FakeClient()), data=data, password=PASSWORD, origin="f")
    assert engine.calls[-1] == ("compose", "start", "wacore", "waweb")


def test_api_errors_other_than_unregistered_are_raised() -> None:
    class Broken(FakeClient):
        def backup_settings(self, password: str) -> str:
            raise ApiError("boom", status=500)

    with pytest.raises(ApiError):
        make_backup(Broken(registered=True))
