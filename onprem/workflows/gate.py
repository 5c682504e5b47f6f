"""The health gate, the one way every workflow waits: bounded, until the services' containers are healthy
and the client's own API answers `/v1/health`; on failure it names the service and carries its logs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from onprem.deployment import Deployment
from onprem.engine.base import ContainerState, Engine
from onprem.errors import ApiError, EngineError, GateError, StateError

POLL_SECONDS = 0.25
LOG_LINES = 20
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class GateResult:
    containers: list[ContainerState]
    health: dict[str, Any]


def first_problem(
    expected: Sequence[str], containers: Sequence[ContainerState], *, crash_loop_fails: bool = False
) -> tuple[str, str, bool] | None:
    """The first service that is not ready: (service, why, hopeless). None when all are ready (pure).

    With `crash_loop_fails`, a container the engine is restarting after it exited is hopeless too (after
    a change that should start cleanly, such as a new certificate or secret)."""
    by_service: dict[str, list[ContainerState]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    for service in expected:
        found = by_service.get(service)
        if not found:
            return service, "has no container", False
        for container in found:
            if crash_loop_fails and container.state == "restarting":
                return service, f"keeps exiting (exit code {container.exit_code}) and restarting", True
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


def service_logs(engine: Engine, project: str, service: str) -> str:
    """A service's last log lines, "" when the engine cannot give them (the error at hand matters more)."""
    try:
        return engine.logs(project, service, tail=LOG_LINES)
    except EngineError:
        return ""


def wait_until_healthy(
    *,
    engine: Engine,
    project: str,
    expected: Sequence[str],
    probe: Callable[[], dict[str, Any]],
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    crash_loop_fails: bool = False,
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
        problem = first_problem(expected, containers, crash_loop_fails=crash_loop_fails)
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
    waited = "" if problem is not None and problem[2] else f" after {timeout:.0f} s"
    logs = service_logs(engine, project, service)
    raise GateError(f"service {service} {why}{waited}", service=service, logs=logs)


def health_probe(deployment: Deployment, api_key: str) -> Callable[[], dict[str, Any]]:
    """`/v1/health` of the deployment, pinning the web container's CA first (it may be new)."""
    api = deployment.api_with(api_key)

    def probe() -> dict[str, Any]:
        try:
            deployment.pin_ca()
        except EngineError as exc:
            raise ApiError(f"the web container's CA is not readable yet ({exc})") from None
        return api.health(timeout=PROBE_TIMEOUT)

    return probe


def gate(
    deployment: Deployment,
    services: Sequence[str],
    *,
    api_key: str | None = None,
    crash_loop_fails: bool = False,
) -> GateResult:
    """Wait, within `deployment.timeout_seconds`, until `services` are healthy and the API answers
    (`crash_loop_fails`: see `first_problem`).

    Raises GateError naming the failing service with its last log lines; StateError without an API key.
    """
    key = api_key if api_key is not None else deployment.secrets.read("WA_API_KEY")
    if key is None:
        raise StateError(
            f"no API key in {deployment.state.secrets}: deployment {deployment.project} was not deployed "
            "from this state directory; run `onprem deploy` first"
        )
    return wait_until_healthy(
        engine=deployment.engine,
        project=deployment.project,
        expected=services,
        probe=health_probe(deployment, key),
        timeout=deployment.settings.deployment.timeout_seconds,
        clock=deployment.clock,
        sleep=deployment.sleep,
        crash_loop_fails=crash_loop_fails,
    )


def restart(deployment: Deployment, services: Sequence[str]) -> GateResult:
    """Restart `services` and gate them (the client reads some settings only at start).

    Raises EngineError when compose fails, GateError when they do not come back healthy."""
    deployment.compose("restart", *services)
    return gate(deployment, services)
