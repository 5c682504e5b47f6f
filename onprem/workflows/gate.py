"""The health gate: wait, bounded, until every service is healthy and the client's API answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from onprem.engine.base import ContainerState, Engine
from onprem.errors import ApiError, EngineError, GateError

POLL_SECONDS = 0.25
LOG_LINES = 20


@dataclass(frozen=True)
class GateResult:
    containers: list[ContainerState]
    health: dict[str, Any]


def first_problem(
    expected: Sequence[str], containers: Sequence[ContainerState]
) -> tuple[str, str, bool] | None:
    """The first service that is not ready: (service, why, hopeless). None when all are ready (pure)."""
    by_service: dict[str, list[ContainerState]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    for service in expected:
        found = by_service.get(service)
        if not found:
            return service, "has no container", False
        for container in found:
            if container.failed:
                why = (
                    f"is {container.state} (exit code {container.exit_code})"
                    if container.state in ("exited", "dead", "created")
                    else "is unhealthy"
                )
                return service, why, True
            if not container.ready:
                return service, f"is {container.state}, health {container.health or 'unknown'}", False
    return None


def wait_until_healthy(
    *,
    engine: Engine,
    project: str,
    expected: Sequence[str],
    probe: Callable[[], dict[str, Any]],
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> GateResult:
    """Poll containers and the API until all are healthy, or raise GateError naming the culprit.

    `probe` asks the client's own API for `/v1/health` through the published port (raises ApiError
    while it does not answer). A container that exits or turns unhealthy fails the gate at once.
    """
    deadline = clock() + timeout
    problem: tuple[str, str, bool] | None = None
    api_error: ApiError | None = None
    while True:
        containers = engine.containers(project)
        problem = first_problem(expected, containers)
        if problem is not None and problem[2]:
            break
        if problem is None:
            try:
                return GateResult(containers=containers, health=probe())
            except ApiError as exc:
                api_error = exc
        if clock() >= deadline:
            break
        sleep(POLL_SECONDS)
    if problem is None:
        service, why = "waweb", f"is running but the API did not answer /v1/health ({api_error})"
    else:
        service, why, _ = problem
    try:
        logs = engine.logs(project, service, tail=LOG_LINES)
    except EngineError:
        logs = ""
    waited = "" if problem is not None and problem[2] else f" after {timeout:.0f} s"
    raise GateError(f"service {service} {why}{waited}", service=service, logs=logs)
