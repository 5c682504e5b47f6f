"""`onprem relay dlq list` and `onprem relay replay` on a store, and `serve`'s argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from onprem.errors import ConfigError, StateError
from onprem.relay import sqlite_ops
from onprem.relay.cli import relay
from onprem.relay.sqlite_ops import NewEvent


def config_with_dead_letters(tmp_path: Path) -> Path:
    conn = sqlite_ops.connect(tmp_path / "data")
    conn.execute("BEGIN")
    for n in (1, 2):
        sqlite_ops.insert_event(conn, NewEvent(f"msg_{n}", "onprem", 1.0e9, b"{}", None), [], ["crm"], 0)
    sqlite_ops.disable_endpoint(conn, "crm", 1.0e9, "410 gone")
    conn.execute("COMMIT")
    conn.close()
    config = tmp_path / "relay.yaml"
    config.write_text(f"store: {{data_dir: {tmp_path / 'data'}}}\n")
    return config


def test_dlq_list_shows_dead_letters_without_bodies(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    result = CliRunner().invoke(relay, ["dlq", "list", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["event_id"], r["endpoint"]) for r in rows] == [("msg_1", "crm"), ("msg_2", "crm")]
    assert all("body" not in r for r in rows)


def test_replay_requeues_the_chosen_dead_letters_and_reenables_the_endpoint(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    result = CliRunner().invoke(relay, ["replay", "--config", str(config), "--id", "msg_2"])
    assert result.exit_code == 0, result.output
    assert "requeued 1 deliveries" in result.output
    result = CliRunner().invoke(relay, ["replay", "--config", str(config), "--all"])
    assert "requeued 1 deliveries" in result.output
    conn = sqlite_ops.connect(tmp_path / "data")
    assert sqlite_ops.list_dead(conn, None, 10) == []
    assert sqlite_ops.disabled_endpoints(conn) == set()


def test_replay_needs_a_selection_and_a_store(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    result = CliRunner().invoke(relay, ["replay", "--config", str(config)])
    assert isinstance(result.exception, ConfigError)
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"store: {{data_dir: {tmp_path / 'nothing'}}}\n")
    result = CliRunner().invoke(relay, ["dlq", "list", "--config", str(empty)])
    assert isinstance(result.exception, StateError)


@pytest.mark.parametrize("listen", ["nope", "127.0.0.1:99999"])
def test_serve_rejects_a_bad_listen_address(tmp_path: Path, listen: str) -> None:
    result = CliRunner().invoke(relay, ["serve", "--listen", listen])
    assert isinstance(result.exception, ConfigError)
