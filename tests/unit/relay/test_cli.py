"""`onprem relay dlq list` and `onprem relay replay` on a store, and `serve`'s argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from onprem.cli.relay import relay
from onprem.errors import ConfigError, StateError
from onprem.relay.store import NewEvent
from onprem.relay.store import sqlite_sql as sql


def config_with_dead_letters(tmp_path: Path) -> Path:
    conn = sql.connect(tmp_path / "data")
    conn.execute("BEGIN")
    for n in (1, 2):
        sql.insert_event(conn, NewEvent(f"msg_{n}", "onprem", 1.0e9, b"{}", None), [], ["crm"], 0)
    sql.disable_endpoint(conn, "crm", 1.0e9, "410 gone")
    conn.execute("COMMIT")
    conn.close()
    config = tmp_path / "relay.yaml"
    config.write_text(f"store: {{data_dir: {tmp_path / 'data'}}}\n")
    return config


def test_dlq_list_shows_dead_letters_without_bodies(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    result = CliRunner().invoke(relay, ["dlq", "list", "--settings", str(config), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)  # one JSON document, not JSON Lines
    assert document["count"] == 2
    rows = document["dead_letters"]
    assert [(r["event_id"], r["endpoint"]) for r in rows] == [("msg_1", "crm"), ("msg_2", "crm")]
    assert all("body" not in r for r in rows)
    assert rows[0]["size"] == 2


def test_dlq_list_as_json_with_nothing_dead_is_an_empty_document(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    assert CliRunner().invoke(relay, ["replay", "--settings", str(config), "--all"]).exit_code == 0
    result = CliRunner().invoke(relay, ["dlq", "list", "--settings", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"dead_letters": [], "count": 0}


def test_replay_requeues_the_chosen_dead_letters_and_reenables_the_endpoint(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    result = CliRunner().invoke(relay, ["replay", "--settings", str(config), "--id", "msg_2"])
    assert result.exit_code == 0, result.output
    assert "requeued 1 deliveries" in result.output
    result = CliRunner().invoke(relay, ["replay", "--settings", str(config), "--all"])
    assert "requeued 1 deliveries" in result.output
    conn = sql.connect(tmp_path / "data")
    assert sql.list_dead(conn, None, 10) == []
    assert sql.disabled_endpoints(conn) == set()


def test_replay_needs_a_selection_and_a_store(tmp_path: Path) -> None:
    config = config_with_dead_letters(tmp_path)
    result = CliRunner().invoke(relay, ["replay", "--settings", str(config)])
    assert isinstance(result.exception, ConfigError)
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"store: {{data_dir: {tmp_path / 'nothing'}}}\n")
    result = CliRunner().invoke(relay, ["dlq", "list", "--settings", str(empty)])
    assert isinstance(result.exception, StateError)
    assert str(tmp_path / "nothing" / "relay.sqlite3") in str(result.exception)
    assert not (tmp_path / "nothing").exists(), "looking for a store creates none"


@pytest.mark.parametrize("listen", ["nope", "127.0.0.1:99999"])
def test_serve_rejects_a_bad_listen_address(tmp_path: Path, listen: str) -> None:
    result = CliRunner().invoke(relay, ["serve", "--listen", listen])
    assert isinstance(result.exception, ConfigError)


@pytest.mark.parametrize("option", ["--public-listen", "--http01-listen"])
def test_serve_rejects_a_bad_public_listen_address_naming_the_option(option: str) -> None:
    result = CliRunner().invoke(relay, ["serve", option, "nope"])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith(f"{option}: ")


def test_statuses_lists_one_message_s_status_callbacks_from_the_store(tmp_path: Path) -> None:
    conn = sql.connect(tmp_path / "data")
    conn.execute("BEGIN")
    bodies = [
        (1.0e9, {"statuses": [{"id": "gBEGa", "status": "sent", "timestamp": "1"}]}),
        (1.0e9 + 1, {"statuses": [{"id": "gBEGb", "status": "sent", "timestamp": "2"}]}),
        (
            1.0e9 + 2,
            {
                "statuses": [
                    {
                        "id": "gBEGa",
                        "status": "failed",
                        "timestamp": "3",
                        "errors": [{"code": 470, "title": "window"}],
                    }
                ]
            },
        ),
    ]
    for n, (at, body) in enumerate(bodies):
        sql.insert_event(
            conn, NewEvent(f"evt_{n}", "onprem", at, json.dumps(body).encode(), None), [], ["crm"], 0
        )
    conn.execute("COMMIT")
    conn.close()
    config = tmp_path / "relay.yaml"
    config.write_text(f"store: {{data_dir: {tmp_path / 'data'}}}\n")

    result = CliRunner().invoke(relay, ["statuses", "gBEGa", "--settings", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["statuses"] == [
        {"status": "sent", "timestamp": "1", "errors": []},
        {"status": "failed", "timestamp": "3", "errors": [{"code": 470, "title": "window"}]},
    ]
    later = CliRunner().invoke(
        relay, ["statuses", "gBEGa", "--settings", str(config), "--since", str(1.0e9 + 1)]
    )
    assert later.output.strip() == "3  failed  (470 window)"
