"""`onprem upgrade` of a multiconnect deployment (2 shards, a spare Coreapp) on the real engine: the
nodes are replaced one at a time while a steady sender sends, /v1/health answers throughout the roll,
and the only moment it does not is the web app's own replacement."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from onprem.errors import ApiError
from tests.integration.changes.conftest import new_stack
from tests.integration.changes.test_safe_deploys import NUMBER
from tests.integration.changes.test_upgrade import api_of
from tests.integration.ops.conftest import vname_cert

MULTICONNECT = "  mode: multiconnect\n  shards: 2\n"
NODES = ["master1", "master2", "wacore1", "wacore2", "wacore3"]


def started_at(project: str, service: str) -> float:
    """When the running container of `service` started (time.time() scale)."""
    name = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    state = json.loads(
        subprocess.run(
            ["docker", "inspect", "-f", "{{json .State}}", name], capture_output=True, text=True, check=True
        ).stdout
    )
    return datetime.fromisoformat(state["StartedAt"][:26].rstrip("Z") + "+00:00").timestamp()


def test_a_rolling_upgrade_replaces_one_node_at_a_time_and_the_api_answers_until_the_web_app_is_replaced(
    tmp_path: Path, stack_images: None
) -> None:
    stack = new_stack(tmp_path, "it-rolling", version="2.53.2", client=MULTICONNECT)
    try:
        stack.ok("deploy")
        (stack.workdir / "vname.cert").write_text(vname_cert("Acme Support") + "\n")
        stack.ok("register", *NUMBER, "--cert", "vname.cert")
        stack.ok("verify", stack.last_registration_code())
        assert stack.ok("shards", "set", "2", "--cert", "vname.cert")["shards"] == 2

        api = api_of(stack)
        sent, failed = [0], [0]
        stop = threading.Event()

        def sender() -> None:
            while not stop.is_set():
                try:
                    api.send_text(f"+1631555{1000 + sent[0] % 50}", "during the upgrade")
                except ApiError:
                    failed[0] += 1
                sent[0] += 1
                time.sleep(0.1)

        thread = threading.Thread(target=sender, daemon=True)
        with stack.watch() as watch:
            thread.start()
            done = stack.ok("upgrade", "--version", "2.57.2")
            stop.set()
            thread.join(timeout=10)
        outages = watch.outages()
        web_started = started_at(stack.name, "waweb")
        print(
            f"\nrolling upgrade: order {done['rolled']['order']}, seconds per node "
            f"{done['rolled']['seconds']}; /v1/health unanswered {len(outages)} time(s), "
            f"{[round(b - a, 1) for a, b in outages]} s; sends failed {failed[0]} of {sent[0]}"
        )
        assert sorted(done["rolled"]["order"]) == NODES
        assert {s for s in done["rolled"]["order"][:2]} == {"master1", "master2"}, "masters go first"
        # The roll itself never took the API away; the one outage allowed is the web app's replacement.
        assert len(outages) <= 1, outages
        for begin, end in outages:
            assert begin - 1 <= web_started <= end + 1, (outages, web_started)

        status = stack.ok("status")
        assert status["healthy"], status["problems"]
        assert status["release"]["client_version"] == "2.57.2"
        health = status["api"]["health"]
        live = {k: v for k, v in health.items() if isinstance(v, dict) and not v.get("heartbeat")}
        assert {k.split(":")[0] for k in live} == set(NODES), health
        assert sent[0] > 0
    finally:
        stack.run("down", "--volumes", "--yes")
