"""Pure helpers of the Swarm engine: the docker CLI argument vectors it runs, and the translation of
what `docker service ls/ps/inspect`, `docker node inspect` and `docker inspect` print into decisions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onprem.engine.base import ContainerState
from onprem.engine.inspect import container_state

STACK_LABEL = "com.docker.stack.namespace"
SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"
OWN_LABELS = "org.onprem."
"""Node labels onprem manages (others are the operator's and left alone)."""
REPLICAS = re.compile(r"^(\d+)/(\d+)")


def stack_deploy_argv(stack_file: str, project: str) -> list[str]:
    """`docker stack deploy`, detached (the engine waits itself, bounded), pruning services no longer in
    the file, never asking a registry for digests (images are copied to every node)."""
    return [
        "docker", "stack", "deploy", "--compose-file", stack_file, "--prune", "--resolve-image", "never",
        "--detach=true", project,
    ]  # fmt: skip


def label_update_argv(
    node_id: str, current: Mapping[str, str], wanted: Mapping[str, str]
) -> list[str] | None:
    """`docker node update` bringing the node's onprem labels to `wanted` (the operator's labels kept);
    None when they already are (pure)."""
    argv = ["docker", "node", "update"]
    for key, value in sorted(wanted.items()):
        if current.get(key) != value:
            argv += ["--label-add", f"{key}={value}"]
    for key in sorted(current):
        if key.startswith(OWN_LABELS) and key not in wanted:
            argv += ["--label-rm", key]
    return None if len(argv) == 3 else [*argv, node_id]


def json_lines(text: str) -> list[dict[str, Any]]:
    """The documents of `--format '{{json .}}'` output, one a line (pure)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def service_name(project: str, full: str) -> str:
    """`<project>_db` -> `db` (pure)."""
    return full.removeprefix(f"{project}_")


def replicas(rows: Sequence[Mapping[str, Any]], project: str) -> dict[str, tuple[int, int]]:
    """(running, desired) tasks of each service of the stack, from `docker service ls` rows (pure)."""
    found: dict[str, tuple[int, int]] = {}
    for row in rows:
        match = REPLICAS.match(str(row.get("Replicas", "")))
        if match:
            found[service_name(project, str(row.get("Name", "")))] = (int(match[1]), int(match[2]))
    return found


@dataclass(frozen=True)
class Convergence:
    """Where a stack is on its way to running everything: the services not there yet, and why."""

    waiting: dict[str, str]

    @property
    def done(self) -> bool:
        return not self.waiting


def convergence(
    expected: Sequence[str], counts: Mapping[str, tuple[int, int]], updates: Mapping[str, str]
) -> Convergence:
    """Which `expected` services are not converged (pure): a missing service, fewer running tasks than
    desired, or an update not completed (`updates`: UpdateStatus.State by service)."""
    waiting: dict[str, str] = {}
    for service in expected:
        if service not in counts:
            waiting[service] = "no such service in the stack"
            continue
        running, desired = counts[service]
        update = updates.get(service, "")
        if running < desired:
            waiting[service] = f"{running}/{desired} tasks running"
        elif update not in ("", "completed", "rollback_completed"):
            waiting[service] = f"update {update}"
        elif update == "rollback_completed":
            waiting[service] = "its update failed and Swarm rolled it back"
    return Convergence(waiting)


def update_states(documents: Sequence[Mapping[str, Any]], project: str) -> dict[str, str]:
    """UpdateStatus.State of each service, from `docker service inspect` documents (pure)."""
    return {
        service_name(project, str((d.get("Spec") or {}).get("Name", ""))): str(
            (d.get("UpdateStatus") or {}).get("State", "")
        )
        for d in documents
    }


def task_problem(rows: Sequence[Mapping[str, Any]]) -> str:
    """What the newest task of a service says (`docker service ps --no-trunc` rows, newest first):
    its state and error (pure)."""
    if not rows:
        return "no task was created (no node satisfies its placement, or its image is missing)"
    newest = rows[0]
    state = str(newest.get("CurrentState", "")).strip()
    error = str(newest.get("Error", "")).strip()
    node = str(newest.get("Node", "")).strip()
    where = f" on node {node}" if node else ""
    return f"task {state}{where}" + (f": {error}" if error else "")


def swarm_container(attrs: Mapping[str, Any], project: str) -> ContainerState:
    """A task's container as the workflows see containers: by its service name within the stack (pure)."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    state = container_state(attrs)
    return ContainerState(
        service=service_name(project, str(labels.get(SWARM_SERVICE_LABEL, ""))),
        name=state.name,
        state=state.state,
        health=state.health,
        exit_code=state.exit_code,
        ports=state.ports,
        image_id=state.image_id,
    )
