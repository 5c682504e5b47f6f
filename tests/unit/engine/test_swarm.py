"""The Swarm engine against scripted nodes: what it runs on the manager for a deploy, the bounded wait
for convergence and its error, the checks of the Swarm itself, and the node labels it keeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from onprem.engine.swarm import NodeEngine, SwarmEngine
from onprem.engine.swarm_state import convergence, label_update_argv, replicas, task_problem
from onprem.errors import EngineError

Answer = tuple[int, str]


class ScriptedNode:
    """A node whose docker CLI answers from a script: the first rule whose words start the argv."""

    def __init__(self, rules: list[tuple[list[str], Answer | Callable[[], Answer]]]) -> None:
        self.rules = rules
        self.ran: list[list[str]] = []
        self.staged: list[Path] = []

    def run(
        self, argv: Sequence[str], *, stdin: bytes | Iterable[bytes] | None = None, timeout: float = 900
    ) -> tuple[int, bytes, bytes]:
        self.ran.append(list(argv))
        for prefix, answer in self.rules:
            if list(argv[: len(prefix)]) == prefix:
                code, out = answer() if callable(answer) else answer
                return code, out.encode(), b"" if code == 0 else out.encode()
        return 0, b"", b""

    def stage(self, bundle_dir: Path, project: str) -> str:
        self.staged.append(bundle_dir)
        return f"/var/lib/onprem/{project}/bundle"


SWARM_ACTIVE = json.dumps({"LocalNodeState": "active", "ControlAvailable": True})


def engine(nodes: dict[str, ScriptedNode], clock: Callable[[], float] | None = None) -> SwarmEngine:
    return SwarmEngine(
        cast(dict[str, NodeEngine], nodes),
        manager="m1",
        web_host="m1",
        labels={"m1": {"org.onprem.role.db": "true", "org.onprem.host": "m1"}},
        convergence_timeout=30,
        clock=clock or (lambda: 0.0),
        sleep=lambda _s: None,
    )


def manager(services: list[dict[str, Any]], *, labels: str = "{}") -> ScriptedNode:
    ids = "\n".join(json.dumps(s) for s in services)
    return ScriptedNode(
        [
            (["docker", "info", "--format", "{{json .Swarm}}"], (0, SWARM_ACTIVE)),
            (["docker", "info", "--format", "{{.Swarm.NodeID}}"], (0, "node-m1\n")),
            (["docker", "node", "ls"], (0, "node-m1\n")),
            (["docker", "node", "inspect"], (0, labels)),
            (["docker", "service", "ls"], (0, ids)),
            (
                ["docker", "service", "inspect"],
                (0, json.dumps([{"Spec": {"Name": s["Name"]}} for s in services])),
            ),
            (
                ["docker", "service", "ps"],
                (
                    0,
                    json.dumps(
                        {
                            "CurrentState": "Rejected 2 seconds ago",
                            "Error": "No such image: x:1",
                            "Node": "w1",
                        }
                    ),
                ),
            ),
        ]
    )


def write_stack(tmp_path: Path, services: list[str]) -> Path:
    (tmp_path / "compose.yaml").write_text(json.dumps({"services": {s: {} for s in services}}))
    return tmp_path


def test_up_labels_the_nodes_then_deploys_the_staged_stack_file_without_asking_a_registry(
    tmp_path: Path,
) -> None:
    node = manager([{"ID": "1", "Name": "demo_db", "Replicas": "1/1"}])
    engine({"m1": node}).compose(write_stack(tmp_path, ["db"]), "demo", ["up", "--detach"])
    commands = [" ".join(argv) for argv in node.ran]
    labelled = commands.index(
        "docker node update --label-add org.onprem.host=m1 --label-add org.onprem.role.db=true node-m1"
    )
    deployed = commands.index(
        "docker stack deploy --compose-file /var/lib/onprem/demo/bundle/compose.yaml --prune "
        "--resolve-image never --detach=true demo"
    )
    assert labelled < deployed
    assert node.staged == [tmp_path]


def test_a_stack_that_does_not_converge_fails_in_bounded_time_naming_the_service_and_its_task_error(
    tmp_path: Path,
) -> None:
    ticks = iter(range(0, 1000, 10))
    node = manager(
        [
            {"ID": "1", "Name": "demo_db", "Replicas": "1/1"},
            {"ID": "2", "Name": "demo_waweb", "Replicas": "0/1"},
        ]
    )
    with pytest.raises(EngineError) as caught:
        engine({"m1": node}, clock=lambda: float(next(ticks))).compose(
            write_stack(tmp_path, ["db", "waweb"]), "demo", ["up"]
        )
    message = str(caught.value)
    assert "the stack demo did not converge within 30 s" in message
    assert (
        "service waweb: 0/1 tasks running; task Rejected 2 seconds ago on node w1: No such image: x:1"
        in message
    )
    assert "service db" not in message


def test_a_manager_that_is_not_one_is_refused_with_the_command_that_makes_it_one() -> None:
    node = ScriptedNode(
        [(["docker", "info", "--format", "{{json .Swarm}}"], (0, json.dumps({"LocalNodeState": "inactive"})))]
    )
    with pytest.raises(
        EngineError, match=r"host m1 is not a Swarm manager .*docker swarm init --advertise-addr"
    ):
        engine({"m1": node}).check()


def test_a_host_outside_the_swarm_is_named_with_the_join_command() -> None:
    worker = ScriptedNode([(["docker", "info", "--format", "{{.Swarm.NodeID}}"], (0, "\n"))])
    with pytest.raises(
        EngineError, match=r"host w1 is not a node of the Swarm managed by m1: run `docker swarm join"
    ):
        engine({"m1": manager([]), "w1": worker}).check()


def test_down_removes_the_stack_and_keeps_volumes_unless_asked(tmp_path: Path) -> None:
    node = manager([])
    engine({"m1": node}).compose(tmp_path, "demo", ["down", "--remove-orphans"])
    commands = [" ".join(argv) for argv in node.ran]
    assert "docker stack rm demo" in commands
    assert not any(c.startswith("docker volume rm") for c in commands)


def test_a_compose_verb_without_a_swarm_counterpart_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="`docker compose pull` has no Swarm counterpart"):
        engine({"m1": manager([])}).compose(tmp_path, "demo", ["pull", "--quiet"])


def test_node_labels_keep_the_operators_own_and_drop_stale_onprem_ones() -> None:
    current = {"zone": "a", "org.onprem.role.db": "true", "org.onprem.role.web": "true"}
    wanted = {"org.onprem.role.web": "true", "org.onprem.host": "n1"}
    assert label_update_argv("id1", current, wanted) == [
        "docker", "node", "update", "--label-add", "org.onprem.host=n1", "--label-rm", "org.onprem.role.db", "id1",
    ]  # fmt: skip
    assert label_update_argv("id1", {**wanted, "zone": "a"}, wanted) is None


def test_convergence_counts_running_tasks_and_treats_a_swarm_rollback_as_failure() -> None:
    counts = replicas(
        [{"Name": "p_db", "Replicas": "1/1"}, {"Name": "p_wacore1", "Replicas": "0/1 (max 1 per node)"}], "p"
    )
    assert counts == {"db": (1, 1), "wacore1": (0, 1)}
    state = convergence(["db", "wacore1", "relay"], counts, {"db": "rollback_completed"})
    assert state.waiting == {
        "db": "its update failed and Swarm rolled it back",
        "wacore1": "0/1 tasks running",
        "relay": "no such service in the stack",
    }
    assert convergence(["db"], {"db": (1, 1)}, {"db": "completed"}).done
    assert "no task was created" in task_problem([])
