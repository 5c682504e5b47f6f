"""`onprem emulator web|core` from the command line: flags, config errors, an unreachable database."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from onprem.cli import main


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return int(caught.value.code or 0)


def test_help_lists_both_roles_and_their_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert "web" in out
    assert "core" in out
    assert exit_code(["emulator", "web", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--data-dir", "--state", "--db-wait", "--sunset"):
        assert flag in out
    assert exit_code(["emulator", "core", "--help"]) == 0
    assert "--ports" in capsys.readouterr().out


@pytest.mark.parametrize("role", ["web", "core"])
def test_an_unreachable_database_exits_6_with_a_clear_message(
    role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    for name, value in {
        "WA_DB_ENGINE": "MYSQL",
        "WA_DB_HOSTNAME": "127.0.0.1",
        "WA_DB_PORT": str(port),
        "WA_DB_USERNAME": "root",
        "WA_DB_PASSWORD": "db-password-value",
    }.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    code = exit_code(["emulator", role, "--data-dir", str(tmp_path), "--db-wait", "0.6"])
    err = capsys.readouterr().err
    assert code == 6
    assert time.monotonic() - started < 10
    assert f"MYSQL root@127.0.0.1:{port}/waent" in err
    assert "unreachable" in err
    assert "db-password-value" not in err


def test_a_bad_environment_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WA_DB_ENGINE", "ORACLE")
    assert exit_code(["emulator", "web", "--data-dir", str(tmp_path)]) == 2


def test_bad_core_ports_exit_2(tmp_path: Path) -> None:
    assert exit_code(["emulator", "core", "--ports", "6250,x", "--data-dir", str(tmp_path)]) == 2


def test_inject_records_an_inbound_message_in_the_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from onprem.emulator.msgstore import MessagingStore
    from onprem.emulator.testing import register, sqlite_store

    for name in ("WA_DB_ENGINE", "ONPREM_EMULATOR_SQLITE", "ONPREM_EMULATOR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "state.sqlite3"
    store = sqlite_store(state)
    argv = [
        "emulator",
        "inject",
        "--from",
        "+1 631 555 1234",
        "--text",
        "hi",
        "--state",
        str(state),
        "--data-dir",
        str(tmp_path),
    ]
    assert exit_code(argv) == 2  # no registered number yet
    register(store)
    assert exit_code(argv) == 0
    assert capsys.readouterr().out.strip().startswith("gBEG")
    assert MessagingStore(store).window_open("16315551234", time.time())
    store.close()
