"""The stack as the operations see it: which services are the client, restarting them, waiting for
the API to answer again."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from onprem.engine.base import Engine, ExecEngine
from onprem.errors import ApiError, GateError

DbKind = Literal["mysql", "postgres"]


class HealthApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...


@dataclass
class Stack:
    """One deployed compose project: its engine, bundle, database kind and client services."""

    engine: ExecEngine
    project: str
    bundle: Path
    db_kind: DbKind | None
    """None when the database is external (not in the stack)."""
    db_user: str
    core_services: list[str]
    web_service: str = "waweb"

    @property
    def client_services(self) -> list[str]:
        return [*self.core_services, self.web_service]

    def compose(self, *args: str) -> None:
        self.engine.compose(self.bundle, self.project, list(args))


def wait_for_api(
    api: HealthApi,
    *,
    timeout: float = 180.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll `/v1/health` until it answers; its answer. Raises GateError after `timeout` seconds."""
    deadline = clock() + timeout
    last = ""
    while True:
        try:
            return api.health(timeout=5)
        except ApiError as exc:
            last = str(exc)
        if clock() >= deadline:
            raise GateError(f"the client's API did not answer within {timeout:.0f} s after a restart: {last}")
        sleep(1.0)


def wait_ready(
    engine: Engine,
    project: str,
    services: Sequence[str],
    *,
    timeout: float = 180.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until every container of `services` runs and passes its healthcheck. Raises GateError."""
    deadline = clock() + timeout
    while True:
        states = [c for c in engine.containers(project) if c.service in services]
        if len(states) >= len(services) and all(c.ready for c in states):
            return
        if clock() >= deadline or any(c.failed for c in states):
            raise GateError(f"{', '.join(services)} did not become healthy again after a restart")
        sleep(1.0)


def restarter(stack: Stack, services: Sequence[str], api: HealthApi) -> Callable[[], None]:
    """A callable that restarts `services` and waits for them to be healthy and the API to answer."""

    def restart() -> None:
        stack.compose("restart", *services)
        wait_ready(stack.engine, stack.project, services)
        wait_for_api(api)

    return restart
