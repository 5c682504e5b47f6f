"""A database outage on the real engine: the coreapp's container healthcheck turns unhealthy, the
emulator logs the outage once and "reconnected" when it ends, and `onprem status` says the API answers
HTTP 503 rather than that it is not answering."""

from __future__ import annotations

import json
import time

from tests.integration.ha.conftest import Stack, wait_for


def container_health(stack: Stack, service: str) -> str:
    return stack.docker("inspect", "--format", "{{.State.Health.Status}}", stack.container(service)).strip()


def test_a_database_outage_is_unhealthy_logged_once_and_reconnected(single: Stack) -> None:
    stack = single
    assert container_health(stack, "wacore") == "healthy"
    stopped = time.monotonic()
    stack.docker("stop", stack.container("db"))
    try:
        wait_for(
            lambda: container_health(stack, "wacore") == "unhealthy",
            timeout=120,
            what="the coreapp's healthcheck turning unhealthy",
            every=2,
        )
        unhealthy_after = time.monotonic() - stopped
        done = stack.run("status", "--json")
        document = json.loads(done.stdout)
        table = stack.run("status").stdout
    finally:
        stack.docker("start", stack.container("db"))
    wait_for(
        lambda: container_health(stack, "wacore") == "healthy",
        timeout=120,
        what="the coreapp healthy again",
        every=2,
    )
    logs = stack.run("logs", "wacore", "--tail", "2000").stdout
    print(f"\ndatabase outage: wacore unhealthy {unhealthy_after:.0f} s after the database stopped")
    assert done.returncode != 0
    assert document["api"]["status"] == 503, document["api"]
    assert "answers HTTP 503" in table
    assert "not answering" not in table
    outage = [line for line in logs.splitlines() if "database unreachable" in line]
    back = [line for line in logs.splitlines() if "database reconnected" in line]
    assert len(outage) == 1, outage
    assert len(back) == 1, back
