"""`onprem exporter`: config and listen errors exit 2; `collect` prints an exposition even when down."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from onprem.cli import main


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return int(caught.value.code or 0)


def test_a_bad_listen_address_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["exporter", "serve", "--listen", "nowhere"]) == 2
    assert "--listen" in capsys.readouterr().err


def test_an_invalid_config_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "exporter.yaml"
    config.write_text("upstream_url: http://waweb\n")
    assert run(["exporter", "serve", "--settings", str(config)]) == 2
    assert "exporter.upstream_url" in capsys.readouterr().err


def test_collect_prints_up_0_for_an_unreachable_upstream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = tmp_path / "key"
    key.write_text("k" * 24)
    config = tmp_path / "exporter.yaml"
    config.write_text(f"upstream_url: https://127.0.0.1:{port}\nca_file: null\napi_key_file: {key}\n")
    assert run(["exporter", "collect", "--settings", str(config), "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert "whatsapp_up 0.0" in out
    assert 'whatsapp_exporter_collector_success{collector="health"} 0.0' in out
