"""A Docker Swarm as the deployment's engine: `docker stack deploy` on the manager, with a bounded wait for
every service to converge; containers, files, commands and volumes on the node that runs them.

The nodes are the hosts of `hosts:`, each reached as the compose target reaches it (this machine, or
SSH). Images reach every node by `docker save | docker load` over that same connection, so no node ever
needs a registry (the stack is deployed with `--resolve-image never`). What the workflows ask of an
engine as compose verbs maps to Swarm: `up` is `stack deploy` (or `service update --force` for a
recreate), `down` is `stack rm` (volumes kept unless asked), `restart` is `service update --force`.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from onprem.bundle import COMPOSE_FILE
from onprem.engine.base import ContainerState, ExecEngine, VolumeState
from onprem.engine.inspect import volume_state
from onprem.engine.swarm_state import (
    STACK_LABEL,
    convergence,
    json_lines,
    label_update_argv,
    replicas,
    stack_deploy_argv,
    swarm_container,
    task_problem,
    update_states,
)
from onprem.errors import EngineError
from onprem.hostfiles import HostFiles

T = TypeVar("T")
POLL_SECONDS = 1.0


class NodeEngine(ExecEngine, Protocol):
    """The engine of one node: an ExecEngine that also runs the docker CLI there and stages a bundle."""

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        """Run a command on the node's host: (exit code, stdout, stderr). Raises EngineError."""

    def stage(self, bundle_dir: Path, project: str) -> str:
        """Put the bundle and its secrets on the node's host; the bundle directory there."""


class SwarmEngine:
    """The Swarm of a deployment: `nodes` by host name, `manager` runs the stack commands, `web_host`
    publishes the web API; `labels` are each host's node labels (from its roles)."""

    def __init__(
        self,
        nodes: Mapping[str, NodeEngine],
        *,
        manager: str,
        web_host: str,
        labels: Mapping[str, Mapping[str, str]],
        convergence_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.nodes = dict(nodes)
        self.manager = manager
        self.web_host = web_host
        self.labels = {host: dict(found) for host, found in labels.items()}
        self.timeout = convergence_timeout
        self._clock = clock
        self._sleep = sleep
        self._node_ids: dict[str, str] = {}

    # -- plumbing --------------------------------------------------------------------------------
    def _each(self, work: Callable[[str, NodeEngine], T]) -> dict[str, T]:
        with ThreadPoolExecutor(max_workers=max(len(self.nodes), 1)) as pool:
            futures = {name: pool.submit(work, name, node) for name, node in self.nodes.items()}
        for future in futures.values():
            error = future.exception()
            if error is not None:
                raise error
        return {name: future.result() for name, future in futures.items()}

    def _checked(self, host: str, argv: Sequence[str], stdin: bytes | None = None) -> str:
        code, out, err = self.nodes[host].run(argv, stdin=stdin)
        if code != 0:
            tail = "\n".join((err or out).decode("utf-8", "replace").strip().splitlines()[-15:])
            raise EngineError(f"{' '.join(argv[:3])} on {host} failed (exit {code}):\n{tail}")
        return out.decode("utf-8", "replace")

    def _manager(self, argv: Sequence[str]) -> str:
        return self._checked(self.manager, argv)

    # -- the Swarm itself ------------------------------------------------------------------------
    def check(self) -> None:
        """Raise EngineError unless the manager host is a Swarm manager and every host is a node of it."""
        swarm = json.loads(self._manager(["docker", "info", "--format", "{{json .Swarm}}"]) or "{}")
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise EngineError(
                f"host {self.manager} is not a Swarm manager (state {swarm.get('LocalNodeState')!r}): run "
                "`docker swarm init --advertise-addr ADDRESS` there, or name the manager in swarm.manager"
            )
        ids = self._each(
            lambda _h, node: node.run(["docker", "info", "--format", "{{.Swarm.NodeID}}"])[1].decode().strip()
        )
        known = set(self._manager(["docker", "node", "ls", "--format", "{{.ID}}"]).split())
        for host, node_id in ids.items():
            if node_id not in known:
                raise EngineError(
                    f"host {host} is not a node of the Swarm managed by {self.manager}: run `docker swarm "
                    f"join --token TOKEN ADDRESS:2377` there (`docker swarm join-token worker` on "
                    f"{self.manager} prints it)"
                )
        self._node_ids = ids

    def label_nodes(self) -> None:
        """Bring each node's onprem labels to its host's roles. Raises EngineError."""
        if not self._node_ids:
            self.check()
        for host, node_id in self._node_ids.items():
            raw = self._manager(["docker", "node", "inspect", node_id, "--format", "{{json .Spec.Labels}}"])
            current = json.loads(raw or "null") or {}
            argv = label_update_argv(node_id, current, self.labels.get(host, {}))
            if argv is not None:
                self._manager(argv)

    def _stack_services(self, project: str) -> list[dict[str, Any]]:
        argv = [
            "docker",
            "service",
            "ls",
            "--filter",
            f"label={STACK_LABEL}={project}",
            "--format",
            "{{json .}}",
        ]
        return json_lines(self._manager(argv))

    def wait(self, project: str, expected: Sequence[str]) -> None:
        """Wait, at most the convergence timeout, until every `expected` service runs all its tasks (healthy:
        Swarm counts a task with a healthcheck only once it passes) and no update is under way.

        Raises EngineError naming each service that did not converge and its newest task's error."""
        deadline = self._clock() + self.timeout
        while True:
            rows = self._stack_services(project)
            ids = [str(r["ID"]) for r in rows]
            documents = json.loads(self._manager(["docker", "service", "inspect", *ids])) if ids else []
            state = convergence(expected, replicas(rows, project), update_states(documents, project))
            if state.done:
                return
            rolled_back = any("rolled it back" in why for why in state.waiting.values())
            if rolled_back or self._clock() > deadline:
                raise EngineError(self._why(project, state.waiting))
            self._sleep(POLL_SECONDS)

    def _why(self, project: str, waiting: Mapping[str, str]) -> str:
        lines = [f"the stack {project} did not converge within {self.timeout:.0f} s:"]
        for service, why in waiting.items():
            argv = ["docker", "service", "ps", "--no-trunc", "--format", "{{json .}}", f"{project}_{service}"]
            code, out, _ = self.nodes[self.manager].run(argv)
            task = task_problem(json_lines(out.decode("utf-8", "replace"))) if code == 0 else "no task"
            lines.append(f"  service {service}: {why}; {task}")
        return "\n".join(lines)

    # -- compose verbs, the Swarm way ------------------------------------------------------------
    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        """`up` -> `stack deploy` (or `service update --force` of the services named with
        `--force-recreate`) and the wait; `down` -> `stack rm`; `restart`/`stop`/`start` of services.
        Raises EngineError for a verb Swarm has no counterpart for."""
        verb = args[0] if args else ""
        named = [a for a in args[1:] if not a.startswith("-")]
        if verb == "up" and not ("--force-recreate" in args and named):
            return self.deploy(bundle_dir, project)
        if verb in ("up", "restart"):
            for service in named:
                self._manager(["docker", "service", "update", "--force", "--detach", f"{project}_{service}"])
            self.wait(project, named)
            return ""
        if verb in ("stop", "start") and named:
            scale = [f"{project}_{s}={0 if verb == 'stop' else 1}" for s in named]
            self._manager(["docker", "service", "scale", "--detach", *scale])
            if verb == "start":
                self.wait(project, named)
            return ""
        if verb == "down":
            self.remove(project, volumes="--volumes" in args)
            return ""
        raise EngineError(f"`docker compose {verb}` has no Swarm counterpart in onprem (target: swarm)")

    def deploy(self, bundle_dir: Path, project: str) -> str:
        """Label the nodes, stage the bundle on the manager, `docker stack deploy` it and wait for every
        service of the stack file to converge. Raises EngineError."""
        self.label_nodes()
        remote = self.nodes[self.manager].stage(bundle_dir, project)
        out = self._manager(stack_deploy_argv(f"{remote}/{COMPOSE_FILE}", project))
        document = yaml.safe_load((bundle_dir / COMPOSE_FILE).read_text(encoding="utf-8")) or {}
        self.wait(project, list(document.get("services") or {}))
        return out

    def remove(self, project: str, *, volumes: bool) -> None:
        """`docker stack rm` and wait until no node runs a container of it; with `volumes`, remove the
        stack's volumes on every node. Raises EngineError."""
        self._manager(["docker", "stack", "rm", project])
        deadline = self._clock() + self.timeout
        while self._stack_services(project) or any(
            self._each(lambda _h, n: self._ids(n, project, every=True)).values()
        ):
            if self._clock() > deadline:
                raise EngineError(f"the stack {project} was not removed within {self.timeout:.0f} s")
            self._sleep(POLL_SECONDS)
        if volumes:
            self._each(lambda host, node: self._remove_volumes(host, node, project))

    def _remove_volumes(self, host: str, node: NodeEngine, project: str) -> None:
        names = self._checked(
            host, ["docker", "volume", "ls", "-q", "--filter", f"label={STACK_LABEL}={project}"]
        )
        if names.split():
            # The overlay network and the last containers go asynchronously: retry briefly.
            for _ in range(20):
                code, _out, _err = node.run(["docker", "volume", "rm", *names.split()])
                if code == 0:
                    return
                self._sleep(POLL_SECONDS)
            self._checked(host, ["docker", "volume", "rm", *names.split()])

    def compose_config(
        self,
        bundle_dir: Path,
        project: str,
        compose_text: str,
        args: Sequence[str],
        *,
        profiles: Sequence[str] = (),
    ) -> str:
        raise EngineError("`docker compose config` does not apply to a Swarm stack (target: swarm)")

    # -- images ----------------------------------------------------------------------------------
    def image_ids(self, names: Sequence[str]) -> dict[str, str | None]:
        return self.nodes[self.manager].image_ids(names)

    def image_tags(self, repository: str) -> list[str]:
        return self.nodes[self.manager].image_tags(repository)

    def images_to_copy(self, names: Sequence[str]) -> list[str]:
        """The `names` that at least one node lacks (each node gets only what it lacks)."""
        missing = self._each(lambda _h, node: node.images_to_copy(names))
        return [n for n in names if any(n in found for found in missing.values())]

    def copy_images(self, names: Sequence[str]) -> None:
        """`docker save | docker load` to every node that lacks one of `names`, the nodes in parallel."""

        def copy(_host: str, node: NodeEngine) -> None:
            lacking = node.images_to_copy(names)
            if lacking:
                node.copy_images(lacking)

        self._each(copy)

    def load_images(self, chunks: Iterable[bytes]) -> None:
        if len(self.nodes) > 1:
            raise EngineError(
                "offline bundles are not carried to several Swarm nodes yet; copy images instead"
            )
        self.nodes[self.manager].load_images(chunks)

    # -- containers, files and commands, on the node that runs them ------------------------------
    def _ids(self, node: NodeEngine, project: str, *, every: bool = False) -> list[str]:
        argv = ["docker", "ps", "-q", "--filter", f"label={STACK_LABEL}={project}"]
        code, out, _ = node.run([*argv, "-a"] if every else argv)
        return out.decode().split() if code == 0 else []

    def _located(self, project: str) -> list[tuple[str, str, ContainerState]]:
        def found(host: str, node: NodeEngine) -> list[tuple[str, str, ContainerState]]:
            ids = self._ids(node, project)
            if not ids:
                return []
            documents = json.loads(self._checked(host, ["docker", "inspect", *ids]))
            return [(host, str(d.get("Id", "")), swarm_container(d, project)) for d in documents]

        return [item for items in self._each(found).values() for item in items]

    def containers(self, project: str) -> list[ContainerState]:
        """The running task containers of the stack on every node, by service within the stack."""
        return sorted((c for _h, _i, c in self._located(project)), key=lambda c: (c.service, c.name))

    def _where(self, project: str, service: str) -> tuple[str, str]:
        for host, cid, state in self._located(project):
            if state.service == service:
                return host, cid
        raise EngineError(f"service {service} of stack {project} has no running container on any node")

    def logs(self, project: str, service: str, tail: int = 50) -> str:
        argv = ["docker", "service", "logs", "--raw", "--tail", str(tail), f"{project}_{service}"]
        _code, out, err = self.nodes[self.manager].run(argv)
        return (out + err).decode("utf-8", "replace")

    def exec(self, project: str, service: str, argv: Sequence[str]) -> tuple[int, bytes, bytes]:
        host, cid = self._where(project, service)
        return self.nodes[host].run(["docker", "exec", "-i", cid, *argv])

    def read_tree(self, project: str, service: str, path: str) -> bytes:
        host, cid = self._where(project, service)
        code, out, err = self.nodes[host].run(["docker", "cp", f"{cid}:{path}", "-"])
        if code != 0:
            raise EngineError(
                f"cannot read {path} from {service} on {host}: {err.decode('utf-8', 'replace')}"
            )
        return out

    def read_file(self, project: str, service: str, path: str) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(self.read_tree(project, service, path))) as archive:
            member = next((m for m in archive.getmembers() if m.isfile()), None)
            handle = archive.extractfile(member) if member is not None else None
            if handle is None:
                raise EngineError(f"{path} in {service} is not a regular file")
            return handle.read()

    def write_tree(self, project: str, service: str, directory: str, tar: bytes) -> None:
        host, cid = self._where(project, service)
        self._checked(host, ["docker", "cp", "-", f"{cid}:{directory}"], stdin=tar)

    def remove_container(self, project: str, service: str, name: str) -> None:
        """Not on a Swarm: its tasks' containers are Swarm's (a removed one is started again at once).

        Raises EngineError."""
        raise EngineError(
            f"cannot remove container {name} of {service}: on a Swarm its tasks' containers are Swarm's "
            "(target: swarm replaces them with `docker service update`)"
        )

    def volumes(self, project: str) -> list[VolumeState]:
        def found(host: str, _node: NodeEngine) -> list[VolumeState]:
            argv = ["docker", "volume", "ls", "-q", "--filter", f"label={STACK_LABEL}={project}"]
            names = self._checked(host, argv).split()
            return (
                [
                    volume_state(d)
                    for d in json.loads(self._checked(host, ["docker", "volume", "inspect", *names]))
                ]
                if names
                else []
            )

        return sorted((v for vs in self._each(found).values() for v in vs), key=lambda v: v.name)

    def endpoint(self, host: str, port: int) -> AbstractContextManager[tuple[str, int]]:
        """Where this machine reaches a port the web host publishes (host mode: on that node)."""
        return self.nodes[self.web_host].endpoint(host, port)

    def host_files(self, project: str) -> HostFiles | None:
        """The manager's directory of the deployment (its lock and audit log)."""
        return self.nodes[self.manager].host_files(project)
