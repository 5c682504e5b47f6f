"""The order of a rolling replacement and when the cluster has settled, read from /v1/health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onprem.engine.base import ContainerState
from onprem.errors import GateError
from onprem.workflows.rolling import next_node, settled, swap_web
from tests.unit.fakes import RecordingEngine, make_deployment

NODES = ["master1", "master2", "wacore1", "wacore2", "wacore3"]


def health(**nodes: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("__", ":"): info for key, info in nodes.items()}


STEADY = health(
    master1__aaa={"role": "primary_master", "gateway_status": "connected"},
    master2__bbb={"role": "secondary_master", "gateway_status": "disconnected"},
    wacore1__ccc={"role": "primary_coreapp", "gateway_status": "connected", "shard": 0, "shards": 2},
    wacore2__ddd={"role": "primary_coreapp", "gateway_status": "connected", "shard": 1, "shards": 2},
    wacore3__eee={"role": "secondary_coreapp", "gateway_status": "disconnected"},
)


def test_secondary_masters_go_before_the_primary_and_standbys_before_shard_owners() -> None:
    remaining = list(NODES)
    order = []
    while remaining:
        service = next_node(STEADY, remaining)
        order.append(service)
        remaining.remove(service)
    assert order == ["master2", "master1", "wacore3", "wacore1", "wacore2"]


def test_a_node_that_is_not_live_is_replaced_first() -> None:
    lost = {**STEADY, "wacore2:ddd": {**STEADY["wacore2:ddd"], "heartbeat": "lost"}}
    assert next_node(lost, NODES) == "wacore2"


def test_the_roll_waits_for_the_new_container_then_its_role_then_every_shard_served() -> None:
    before = ["wacore1:ccc"]
    # wacore1 was stopped: its old node stopped, no new one yet, shard 0 unserved.
    stopped = {**STEADY, "wacore1:ccc": {**STEADY["wacore1:ccc"], "heartbeat": "stopped"}}
    assert settled(stopped, "wacore1", before) == "wacore1's new container to heart-beat"

    starting = {**stopped, "wacore1:fff": {"gateway_status": "disconnected"}}
    assert settled(starting, "wacore1", before) == "wacore1:fff to get its role"

    standby = {**stopped, "wacore1:fff": {"role": "secondary_coreapp", "gateway_status": "disconnected"}}
    waiting = settled(standby, "wacore1", before)
    assert str(waiting).startswith("shard 0 is not served"), waiting

    promoted = {
        **standby,
        "wacore3:eee": {"role": "primary_coreapp", "gateway_status": "connected", "shard": 0, "shards": 2},
    }
    assert settled(promoted, "wacore1", before) is None


def test_the_roll_waits_for_a_primary_master_after_a_master_is_replaced() -> None:
    gone = {k: v for k, v in STEADY.items() if k != "master1:aaa"}
    gone["master1:fff"] = {"role": "secondary_master", "gateway_status": "disconnected"}
    gone["master2:bbb"] = {"role": "secondary_master", "gateway_status": "disconnected"}
    assert settled(gone, "master1", ["master1:aaa"]) == "a primary Master to hold the lease"
    gone["master2:bbb"] = {"role": "primary_master", "gateway_status": "connected"}
    assert settled(gone, "master1", ["master1:aaa"]) is None


def web(name: str, health: str) -> ContainerState:
    return ContainerState(service="waweb", name=name, state="running", health=health, exit_code=0)


MULTICONNECT = "deployment:\n  name: unit\nclient:\n  mode: multiconnect\n  shards: 2\n"


def test_the_new_web_app_starts_beside_the_old_one_which_is_removed_once_the_new_one_is_healthy(
    tmp_path: Path,
) -> None:
    old = web("unit-waweb-1", "healthy")
    engine = RecordingEngine(
        script=[[old], [old, web("unit-waweb-2", "starting")], [old, web("unit-waweb-2", "healthy")]]
    )
    swap_web(make_deployment(tmp_path, engine, text=MULTICONNECT))
    compose = [call for call in engine.calls if call[0] in ("compose", "remove_container")]
    assert compose == [
        ("compose", "unit", "up", "--detach", "--no-deps", "--no-recreate", "--scale", "waweb=2", "waweb"),
        ("remove_container", "unit", "waweb", "unit-waweb-1"),
    ]


def test_a_new_web_app_that_fails_leaves_the_old_one_serving(tmp_path: Path) -> None:
    old = web("unit-waweb-1", "healthy")
    engine = RecordingEngine(script=[[old], [old, web("unit-waweb-2", "unhealthy")]])
    with pytest.raises(GateError, match="the old one still serves"):
        swap_web(make_deployment(tmp_path, engine, text=MULTICONNECT))
    assert not [call for call in engine.calls if call[0] == "remove_container"]
