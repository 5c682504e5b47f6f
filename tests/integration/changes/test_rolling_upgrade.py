"""`onprem upgrade` of a multiconnect deployment (2 shards, a spare Coreapp) on the real engine: the
nodes are replaced one at a time while a steady sender sends, and /v1/health answers throughout, the web
app's replacement included (the web front holds the API's port)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from onprem.errors import ApiError
from tests.integration.changes.conftest import new_stack
from tests.integration.changes.test_safe_deploys import NUMBER
from tests.integration.changes.test_upgrade import api_of
from tests.integration.ops.conftest import vname_cert

MULTICONNECT = "  mode: multiconnect\n  shards: 2\n"
NODES = ["master1", "master2", "wacore1", "wacore2", "wacore3"]


def test_a_rolling_upgrade_replaces_one_node_at_a_time_and_the_api_answers_throughout(
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
        print(
            f"\nrolling upgrade: order {done['rolled']['order']}, seconds per node "
            f"{done['rolled']['seconds']}; /v1/health polls {len(watch.answers)}, unanswered runs "
            f"{[round(b - a, 1) for a, b in outages]} s; sends failed {failed[0]} of {sent[0]}"
        )
        assert sorted(done["rolled"]["order"][:-1]) == NODES
        assert set(done["rolled"]["order"][:2]) == {"master1", "master2"}, "masters go first"
        assert done["rolled"]["order"][-1] == "waweb", "the web app goes last"
        assert outages == [], "the API stopped answering during the upgrade"

        status = stack.ok("status")
        assert status["healthy"], status["problems"]
        assert status["release"]["client_version"] == "2.57.2"
        health = status["api"]["health"]
        live = {k: v for k, v in health.items() if isinstance(v, dict) and not v.get("heartbeat")}
        assert {k.split(":")[0] for k in live} == set(NODES), health
        assert sent[0] > 0
    finally:
        stack.run("down", "--volumes", "--yes")
