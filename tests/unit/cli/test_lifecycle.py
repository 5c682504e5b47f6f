"""CLI: exit codes per error class, fast help, and errors on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_help_lists_the_lifecycle_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for name in ("deploy", "status", "down", "logs", "render", "config", "emulator", "relay", "exporter"):
        assert f"  {name} " in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert (code, out.strip()) == (0, "onprem, version 0.1.0")


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["deplyo"], capsys)
    assert code == 2
    assert "No such command" in err


def test_invalid_config_exits_2_with_file_line_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "onprem.yaml").write_text("client:\n  mode: multiconnect\n  shards: 3\n")
    code, _, err = run(["config"], capsys)
    assert code == 2
    assert f"error: {tmp_path / 'onprem.yaml'}:3: client.shards: must be one of 1, 2, 4, 8, 16, 32" in err


def test_missing_explicit_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["config", "--config", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2
    assert "config file not found" in err


def test_several_hosts_without_roles_are_refused_naming_each_missing_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "onprem.yaml").write_text(
        "hosts:\n  - name: a\n    address: local\n  - name: b\n    address: ssh://ops@10.0.0.5\n"
    )
    code, _, err = run(["render"], capsys)
    assert code == 2
    config = tmp_path / "onprem.yaml"
    assert f"{config}:2: hosts.0.roles: list what runs on a:" in err
    assert f"{config}:4: hosts.1.advertise_address: the IP address the other hosts reach this one at" in err
    assert "several hosts need client.mode: multiconnect" in err
    assert "exactly one host has the role web (found 0)" in err
    assert not (tmp_path / ".onprem").exists()


def test_logs_of_an_unknown_service_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["logs", "nginx"], capsys)
    assert code == 2
    assert "db, wacore, waweb, relay, exporter" in err


def test_config_prints_settings_without_secret_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["config"], capsys)
    assert code == 0
    assert out.startswith("# built-in defaults: valid")
    assert "source: generate" in out
