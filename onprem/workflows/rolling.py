"""Replacing the nodes of a multiconnect client one at a time, so the client keeps answering.

The order follows the roles the client reports in /v1/health, read again before every node: secondary
Masters, then the primary Master (its lease passes to an upgraded secondary), then standby Coreapps,
then each shard owner (the primary Master gives its shard to a standby, which by then runs the new
version). After each node the roll waits until the cluster has settled: the node's new container
heart-beats with a role, a primary Master holds the lease, and every shard is served. The web app goes
last (`swap_web`): the web front holds the API's port, so a new web container starts beside the old one
and takes its place once healthy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onprem.deployment import WEB_SERVICE, Deployment
from onprem.errors import ApiError, GateError
from onprem.workflows.gate import LOG_LINES
from onprem.workflows.status import cluster_findings

POLL_SECONDS = 0.5

# Lower goes first.
_RANK = {"secondary_master": 0, "primary_master": 1, "secondary_coreapp": 2, "primary_coreapp": 3}


def nodes_of(health: Mapping[str, Any], service: str) -> dict[str, dict[str, Any]]:
    """The nodes of `service` in a multiconnect /v1/health object (pure): its keys are
    `<hostname>:<container-id>`, and a node's hostname is its service's name."""
    return {
        key: info
        for key, info in health.items()
        if isinstance(info, dict) and key.rsplit(":", 1)[0] == service
    }


def live(info: Mapping[str, Any]) -> bool:
    """Whether a node heart-beats (the emulator marks a lost or stopped node with `heartbeat`)."""
    return not info.get("heartbeat")


def role_of(health: Mapping[str, Any], service: str) -> str | None:
    """The role of `service`'s live node, or None when none is live (pure)."""
    for info in nodes_of(health, service).values():
        if live(info):
            return str(info.get("role") or "") or None
    return None


def next_node(health: Mapping[str, Any], remaining: Sequence[str]) -> str:
    """Which of the `remaining` services to replace next (pure): by role (see the module), a service
    whose node is not live first of all, then in the given order."""

    def rank(indexed: tuple[int, str]) -> tuple[int, int]:
        index, service = indexed
        role = role_of(health, service)
        return (-1 if role is None else _RANK.get(role, 2), index)

    return min(enumerate(remaining), key=rank)[1]


def settled(health: Mapping[str, Any], service: str, replaced: Sequence[str]) -> str | None:
    """None when the cluster has settled after `service` was replaced, else what it waits for (pure).
    `replaced`: the node keys `service` had before (its new node must be another one)."""
    fresh = {k: v for k, v in nodes_of(health, service).items() if k not in replaced and live(v)}
    if not fresh:
        return f"{service}'s new container to heart-beat"
    key, info = next(iter(fresh.items()))
    if not info.get("role"):
        return f"{key} to get its role"
    primaries = [v for v in health.values() if isinstance(v, dict) and v.get("role") == "primary_master"]
    if not any(live(v) for v in primaries):
        return "a primary Master to hold the lease"
    unserved = [f["reason"] for f in cluster_findings(dict(health)) if f["kind"] == "shard_unserved"]
    return unserved[0] if unserved else None


@dataclass
class RollReport:
    """What a roll did: the services in the order replaced, and each one's seconds until settled."""

    order: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def roll(
    deployment: Deployment, services: Sequence[str], health: Callable[[], Mapping[str, Any]]
) -> RollReport:
    """Replace `services` (nodes whose bundle files already changed) one at a time with `up --no-deps`,
    waiting after each for the cluster to settle, within `deployment.timeout_seconds` each.

    Raises GateError naming the node that did not settle, with its logs."""
    report = RollReport()
    remaining = list(services)
    while remaining:
        now = _read(health)
        service = next_node(now, remaining)
        before = list(nodes_of(now, service))
        role = role_of(now, service) or "not live"
        deployment.progress(f"replacing {service} ({role})")
        started = deployment.clock()
        deployment.compose("up", "--detach", "--no-deps", service)
        _wait(deployment, health, service, before)
        report.order.append(service)
        report.seconds[service] = round(deployment.clock() - started, 1)
        remaining.remove(service)
    return report


def swap_web(deployment: Deployment) -> float:
    """Replace the web app with no moment the API's port refuses (multiconnect: the front holds the
    port): start a web container of the new bundle beside the running one, wait until it is healthy,
    then stop and remove the old one. Returns the seconds it took.

    Raises GateError (with its logs) when the new container is not healthy in time; the old one then
    still serves."""
    engine, project = deployment.engine, deployment.project
    started = deployment.clock()
    old = [c.name for c in engine.containers(project) if c.service == WEB_SERVICE]
    deployment.progress(f"starting the new {WEB_SERVICE} beside {', '.join(old) or 'nothing'}")
    deployment.compose(
        "up",
        "--detach",
        "--no-deps",
        "--no-recreate",
        "--scale",
        f"{WEB_SERVICE}={len(old) + 1}",
        WEB_SERVICE,
    )
    timeout = deployment.settings.deployment.timeout_seconds
    deadline = started + timeout
    while True:
        fresh = [c for c in engine.containers(project) if c.service == WEB_SERVICE and c.name not in old]
        if fresh and fresh[0].ready:
            break
        if deployment.clock() > deadline or (fresh and fresh[0].failed):
            raise GateError(
                f"the new {WEB_SERVICE} container was not healthy within {timeout:g} s; the old one still "
                "serves",
                service=WEB_SERVICE,
                logs=engine.logs(project, WEB_SERVICE, tail=LOG_LINES),
            )
        deployment.sleep(POLL_SECONDS)
    for name in old:
        deployment.progress(f"stopping the old {WEB_SERVICE} ({name})")
        engine.remove_container(project, WEB_SERVICE, name)
    return round(deployment.clock() - started, 1)


def _read(health: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
    try:
        return health()
    except ApiError:
        return {}


def _wait(
    deployment: Deployment,
    health: Callable[[], Mapping[str, Any]],
    service: str,
    before: Sequence[str],
) -> None:
    timeout = deployment.settings.deployment.timeout_seconds
    deadline = deployment.clock() + timeout
    waiting: str | None = f"{service}'s new container to heart-beat"
    while deployment.clock() < deadline:
        now = _read(health)
        waiting = settled(now, service, before) if now else "/v1/health to answer"
        if waiting is None:
            return
        deployment.sleep(POLL_SECONDS)
    logs = deployment.engine.logs(deployment.project, service, tail=LOG_LINES)
    raise GateError(
        f"the cluster did not settle within {timeout:g} s after {service} was replaced: still waiting "
        f"for {waiting}",
        service=service,
        logs=logs,
    )
