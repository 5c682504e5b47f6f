"""Changing a running deployment on the real engine: plan is inert, a release that fails its gate leaves
the previous one serving with its data, rollback, and data that belongs to another state directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests

from tests.integration.changes.conftest import Stack, new_stack
from tests.integration.changes.snapshot import engine_state, tree_state
from tests.integration.conftest import free_ports
from tests.integration.ops.conftest import vname_cert

NUMBER = ("1", "6315550000")
BROKEN_RELAY = """relay:
  store:
    backend: redis
    redis:
      url: redis://127.0.0.1:1/0
"""


def inert(stack: Stack, *, expect: str) -> dict[str, object]:
    """Run `plan --json`; assert the engine and the state directory are exactly as before; the plan."""
    engine_before, files_before = engine_state(stack.name), tree_state(stack.workdir)
    done = stack.run("plan", "--json", "--detailed-exitcode")
    assert engine_state(stack.name) == engine_before, "plan changed something on the engine"
    assert tree_state(stack.workdir) == files_before, "plan wrote a file"
    assert done.stdout, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    codes = {"nothing": 0, "changes": 2, "problems": 1}
    assert done.returncode == codes[expect], f"{done.returncode}: {done.stdout}\n{done.stderr}"
    return document


def actions(document: dict[str, object]) -> dict[str, tuple[str, list[str]]]:
    services = document["services"]
    assert isinstance(services, list)
    return {s["service"]: (s["action"], s["reasons"]) for s in services}


def test_plan_changes_nothing_for_an_unchanged_config_a_changed_port_a_changed_secret_and_a_new_service(
    stack: Stack,
) -> None:
    stack.ok("deploy")

    unchanged = inert(stack, expect="nothing")
    assert set(a for a, _ in actions(unchanged).values()) == {"unchanged"}

    stack.ports[2] = free_ports(1)[0]
    stack.write_config()
    moved = actions(inert(stack, expect="changes"))
    assert moved["exporter"] == ("recreate", ["published ports"])
    assert moved["waweb"][0] == "unchanged"

    (stack.workdir / "db.pw").write_text("AnotherPassw0rd4TheDb\n")
    stack.write_config(extra="secrets:\n  db_password:\n    source: file\n    path: db.pw\n")
    secret = inert(stack, expect="problems")
    assert secret["secrets"] == {"WA_DB_PASSWORD": "changed"}
    assert "AnotherPassw0rd4TheDb" not in json.dumps(secret)
    assert any("onprem secrets rotate db_password" in p for p in secret["problems"])  # type: ignore[union-attr]

    stack.write_config(extra="monitoring:\n  enabled: true\n")
    added = actions(inert(stack, expect="changes"))
    assert added["prometheus"] == ("create", ["no container"])


def test_a_release_that_fails_its_gate_leaves_the_previous_one_serving_with_its_data(stack: Stack) -> None:
    stack.ok("deploy")
    (stack.workdir / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
    stack.ok("register", *NUMBER, "--cert", "vname.cert")
    stack.ok("verify", stack.last_registration_code())
    sent = stack.ok("send", "--to", "+16315551234", "--text", "before the bad release", "--wait", "0")["id"]
    token = (stack.state / "secrets" / "RELAY_PATH_TOKEN").read_text()
    relay = f"http://127.0.0.1:{stack.ports[1]}/webhooks/onprem/{token}"
    body = {"statuses": [{"id": "gBGGFlB5YjhvAgl", "status": "delivered", "timestamp": "1700000000"}]}
    assert requests.post(relay, json=body, timeout=10).status_code == 200

    stack.write_config(extra=BROKEN_RELAY)
    with stack.watch() as watch:
        failed = stack.run("deploy")
    assert failed.returncode == 4, failed.stderr
    assert "service relay" in failed.stderr
    assert "rolled back to release 0001, which is healthy and serving" in failed.stderr
    assert "--- last log lines of relay ---" in failed.stderr
    assert watch.answers, "the watch polled"
    assert watch.longest_outage() < 1.0, "the web API kept answering: only the relay was recreated"

    stack.write_config(extra="")
    status = stack.ok("status")
    assert status["healthy"] is True
    assert status["release"]["id"] == "0001"
    assert status["api"]["health"]["gateway_status"] == "connected", "still registered"
    assert stack.ok("register", *NUMBER, "--cert", "vname.cert")["status"] == "already registered"
    assert sent
    assert relay_events(stack) >= 1, "the relay event acknowledged before is still stored"
    listed = stack.ok("releases")["releases"]
    assert [(r["id"], r["status"]) for r in listed] == [("0001", "running"), ("0002", "failed")]


def test_rollback_brings_the_previous_release_back_gated(stack: Stack) -> None:
    stack.ok("deploy")
    stack.ports[2] = free_ports(1)[0]
    stack.write_config()
    assert stack.ok("deploy")["release"]["id"] == "0002"
    with stack.watch() as watch:
        done = stack.ok("rollback")
    assert (done["release"], done["status"]) == ("0001", "rolled back")
    assert watch.longest_outage() < 1.0
    assert stack.ok("status")["release"]["id"] == "0001"
    again = stack.ok("plan")
    assert actions(again)["exporter"][0] == "recreate", "the config on disk still says release 0002's port"


def test_a_second_state_directory_with_the_same_name_is_refused_before_anything_is_touched(
    stack: Stack, tmp_path_factory: object
) -> None:
    stack.ok("deploy")
    stack.run("down")  # containers gone, volumes kept
    other_dir = Path(str(tmp_path_factory.mktemp("other")))  # type: ignore[attr-defined]
    other = new_stack(other_dir, stack.name)
    other.ports = stack.ports
    other.write_config()
    before = engine_state(stack.name)
    refused = other.run("deploy")
    assert refused.returncode == 6, refused.stderr
    assert "belongs to another state directory" in refused.stderr
    assert f"{stack.name}_mysqlData (created" in refused.stderr
    assert "deployment.state_dir" in refused.stderr
    assert "onprem down --volumes" in refused.stderr
    assert engine_state(stack.name) == before
    planned = other.run("plan")
    assert planned.returncode == 1
    assert "belongs to another state directory" in planned.stdout + planned.stderr
    assert stack.ok("deploy")["healthy"] is True, "the original state directory still deploys"


def relay_events(stack: Stack) -> int:
    code = "import sqlite3; print(sqlite3.connect('/var/lib/onprem-relay/relay.sqlite3').execute('select count(*) from events').fetchone()[0])"
    done = subprocess.run(
        ["docker", "exec", f"{stack.name}-relay-1", "python3", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())
