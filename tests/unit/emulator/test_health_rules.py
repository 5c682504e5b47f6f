"""gateway_status from heartbeats, the master lease, the shard map and registration (pure), and routing."""

from __future__ import annotations

from typing import Any

from onprem.emulator.ha import FENCE, Lease, ShardRow, shard_of
from onprem.emulator.health import (
    FORGET_AFTER,
    STALE_AFTER,
    live_core,
    multiconnect_health,
    route,
    single_health,
)
from onprem.emulator.store import Node

NOW = 1000.0


def node(name: str, *, kind: str = "coreapp", age: float = 0.0, stopped: bool = False) -> Node:
    return Node(f"{name}:{name[-1] * 12}", name, kind, started_at=0.0, last_seen=NOW - age, stopped=stopped)


def row(
    shard: int, name: str, *, renewed_age: float | None = 0.0, previous_age: float | None = None
) -> ShardRow:
    renewed = 0.0 if renewed_age is None else NOW - renewed_age
    previous = 0.0 if previous_age is None else NOW - previous_age
    return ShardRow(shard, f"{name}:{name[-1] * 12}", 1, NOW - 60, renewed, previous)


def lease(name: str, *, expires_in: float = 10.0) -> Lease:
    return Lease(f"{name}:{name[-1] * 12}", 1, NOW - 60, NOW + expires_in)


def short(health: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        key.split(":")[0]: tuple(value.get(k) for k in ("gateway_status", "role", "shard", "heartbeat"))
        for key, value in health.items()
    }


CLUSTER = [
    node("master2", kind="master"),
    node("master1", kind="master"),
    node("wacore3"),
    node("wacore1"),
    node("wacore2"),
]


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
    health = multiconnect_health(
        [node("master1", kind="master")], [], None, registered=True, shards=1, now=NOW
    )
    assert list(health) == ["master1:111111111111"]


def test_the_lease_holder_and_the_serving_owners_are_connected_the_standbys_not() -> None:
    rows = [row(0, "wacore1"), row(1, "wacore2")]
    health = multiconnect_health(CLUSTER, rows, lease("master1"), registered=True, shards=2, now=NOW)
    assert short(health) == {
        "master1": ("connected", "primary_master", None, None),
        "master2": ("disconnected", "secondary_master", None, None),
        "wacore1": ("connected", "primary_coreapp", 0, None),
        "wacore2": ("connected", "primary_coreapp", 1, None),
        "wacore3": ("disconnected", "secondary_coreapp", None, None),
    }
    assert health["wacore1:111111111111"]["shards"] == 2


def test_a_dead_owner_is_told_apart_from_a_standby() -> None:
    nodes = [*CLUSTER[:3], node("wacore1", age=STALE_AFTER + 1), CLUSTER[4]]
    rows = [row(0, "wacore1", renewed_age=STALE_AFTER + 1), row(1, "wacore2")]
    health = multiconnect_health(nodes, rows, lease("master1"), registered=True, shards=2, now=NOW)
    assert short(health)["wacore1"] == ("disconnected", "primary_coreapp", 0, "lost")
    assert short(health)["wacore3"] == ("disconnected", "secondary_coreapp", None, None)


def test_a_node_stopped_on_purpose_says_so() -> None:
    nodes = [node("master1", kind="master"), node("wacore1", stopped=True)]
    health = multiconnect_health(nodes, [], lease("master1"), registered=True, shards=1, now=NOW)
    assert short(health)["wacore1"] == ("disconnected", "secondary_coreapp", None, "stopped")


def test_a_promoted_owner_is_connecting_until_it_serves() -> None:
    unconfirmed = [row(0, "wacore3", renewed_age=None)]
    health = multiconnect_health(CLUSTER, unconfirmed, lease("master1"), registered=True, shards=1, now=NOW)
    assert short(health)["wacore3"] == ("connecting", "primary_coreapp", 0, None)
    # Confirmed, but the previous owner's fence has not run out yet: still not serving.
    waiting = [row(0, "wacore3", previous_age=FENCE - 1)]
    health = multiconnect_health(CLUSTER, waiting, lease("master1"), registered=True, shards=1, now=NOW)
    assert short(health)["wacore3"][0] == "connecting"


def test_an_expired_lease_leaves_no_primary_master() -> None:
    health = multiconnect_health(
        CLUSTER, [], lease("master1", expires_in=-1), registered=True, shards=1, now=NOW
    )
    assert {value["role"] for value in health.values() if "master" in value["role"]} == {"secondary_master"}


def test_a_lost_primary_master_holds_its_role_until_the_lease_expires() -> None:
    nodes = [node("master1", kind="master", age=STALE_AFTER + 1), node("master2", kind="master")]
    health = multiconnect_health(nodes, [], lease("master1"), registered=True, shards=1, now=NOW)
    assert short(health)["master1"] == ("disconnected", "primary_master", None, "lost")


def test_multiconnect_unregistered_reports_every_live_node_unregistered() -> None:
    nodes = [node("master1", kind="master"), node("wacore1"), node("wacore2", stopped=True)]
    health = multiconnect_health(
        nodes, [row(0, "wacore1")], lease("master1"), registered=False, shards=1, now=NOW
    )
    assert {k: v[0] for k, v in short(health).items()} == {
        "master1": "unregistered",
        "wacore1": "unregistered",
        "wacore2": "disconnected",
    }


def test_long_dead_nodes_are_forgotten() -> None:
    nodes = [node("master1", kind="master"), node("wacore9", age=FORGET_AFTER + 1)]
    assert list(short(multiconnect_health(nodes, [], None, registered=True, shards=1, now=NOW))) == [
        "master1"
    ]


def test_a_send_goes_to_the_owner_serving_the_recipients_shard() -> None:
    rows = [row(0, "wacore1"), row(1, "wacore2")]
    recipients = [f"1631555{n:04d}" for n in range(40)]
    for recipient in recipients:
        shard, owner = route(rows, recipient, shards=2, now=NOW)
        assert shard == shard_of(recipient, 2)
        assert owner == rows[shard].node_id
    assert {shard_of(r, 2) for r in recipients} == {0, 1}  # both shards get recipients


def test_a_send_to_a_shard_without_a_serving_owner_has_no_node() -> None:
    recipient = next(f"1631555{n:04d}" for n in range(100) if shard_of(f"1631555{n:04d}", 2) == 1)
    assert route([row(0, "wacore1")], recipient, shards=2, now=NOW) == (1, None)
    silent = [row(0, "wacore1"), row(1, "wacore2", renewed_age=FENCE + 0.5)]
    assert route(silent, recipient, shards=2, now=NOW) == (1, None)


def test_a_single_instance_sends_through_its_live_core() -> None:
    assert live_core([node("wacore1", age=STALE_AFTER + 1)], NOW) is None
    assert live_core([node("master1", kind="master"), node("wacore1")], NOW) == "wacore1:111111111111"
