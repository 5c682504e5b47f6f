"""gateway_status from heartbeats and registration: single-instance and multiconnect (pure)."""

from __future__ import annotations

from onprem.emulator.health import FORGET_AFTER, STALE_AFTER, multiconnect_health, single_health
from onprem.emulator.store import Node

NOW = 1000.0


def node(name: str, *, kind: str = "coreapp", age: float = 0.0, stopped: bool = False) -> Node:
    return Node(f"{name}:{name[-1] * 12}", name, kind, started_at=0.0, last_seen=NOW - age, stopped=stopped)


def statuses(health: dict[str, dict[str, str]]) -> dict[str, tuple[str, str]]:
    return {key.split(":")[0]: (value["gateway_status"], value["role"]) for key, value in health.items()}


def test_single_without_a_live_core_is_disconnected() -> None:
    assert single_health([], registered=True, now=NOW) == {"gateway_status": "disconnected"}
    stale = node("wacore", age=STALE_AFTER + 0.1)
    assert single_health([stale], registered=True, now=NOW) == {"gateway_status": "disconnected"}
    stopped = node("wacore", stopped=True)
    assert single_health([stopped], registered=True, now=NOW) == {"gateway_status": "disconnected"}


def test_single_follows_registration_when_the_core_is_up() -> None:
    live = node("wacore", age=STALE_AFTER)
    assert single_health([live], registered=False, now=NOW) == {"gateway_status": "unregistered"}
    assert single_health([live], registered=True, now=NOW) == {"gateway_status": "connected"}


def test_multiconnect_keys_are_host_and_container_id() -> None:
    health = multiconnect_health([node("master1", kind="master")], registered=True, shards=1, now=NOW)
    assert list(health) == ["master1:111111111111"]


def test_multiconnect_registered_primary_and_shards_connected_spare_disconnected() -> None:
    nodes = [
        node("master2", kind="master"),
        node("master1", kind="master"),
        node("wacore3"),
        node("wacore1"),
        node("wacore2"),
    ]
    health = multiconnect_health(nodes, registered=True, shards=2, now=NOW)
    assert statuses(health) == {
        "master1": ("connected", "primary_master"),
        "master2": ("disconnected", "secondary_master"),
        "wacore1": ("connected", "coreapp"),
        "wacore2": ("connected", "coreapp"),
        "wacore3": ("disconnected", "coreapp"),
    }


def test_multiconnect_fails_over_to_the_next_master_and_the_spare_core() -> None:
    nodes = [
        node("master1", kind="master", stopped=True),
        node("master2", kind="master"),
        node("wacore1", age=STALE_AFTER + 1),
        node("wacore2"),
        node("wacore3"),
    ]
    health = multiconnect_health(nodes, registered=True, shards=2, now=NOW)
    assert statuses(health) == {
        "master1": ("disconnected", "secondary_master"),
        "master2": ("connected", "primary_master"),
        "wacore1": ("disconnected", "coreapp"),
        "wacore2": ("connected", "coreapp"),
        "wacore3": ("connected", "coreapp"),
    }


def test_multiconnect_unregistered_reports_every_live_node_unregistered() -> None:
    nodes = [node("master1", kind="master"), node("wacore1"), node("wacore2", stopped=True)]
    health = multiconnect_health(nodes, registered=False, shards=1, now=NOW)
    assert statuses(health) == {
        "master1": ("unregistered", "primary_master"),
        "wacore1": ("unregistered", "coreapp"),
        "wacore2": ("disconnected", "coreapp"),
    }


def test_multiconnect_without_a_master_serves_no_shard() -> None:
    health = multiconnect_health([node("wacore1")], registered=True, shards=1, now=NOW)
    assert statuses(health) == {"wacore1": ("disconnected", "coreapp")}


def test_long_dead_nodes_are_forgotten() -> None:
    nodes = [node("master1", kind="master"), node("wacore9", age=FORGET_AFTER + 1)]
    assert list(statuses(multiconnect_health(nodes, registered=True, shards=1, now=NOW))) == ["master1"]
