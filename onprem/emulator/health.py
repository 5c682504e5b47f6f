"""`gateway_status` of every node, computed from heartbeats and the registration state (pure).

A core node is up while its heartbeat is at most `STALE_AFTER` seconds old and it has not stopped on
purpose. Roles are derived at read time, deterministically by node name, rather than elected and
stored: every web process computes the same answer from the same rows, with no split brain.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from onprem.emulator.store import Node

STALE_AFTER = 3.0  # seconds without a heartbeat before a node counts as down
FORGET_AFTER = 600.0  # seconds after which a down node is no longer listed (multiconnect)

CONNECTED = "connected"
DISCONNECTED = "disconnected"
UNREGISTERED = "unregistered"


def is_up(node: Node, now: float) -> bool:
    """Whether `node` is alive at `now`."""
    return not node.stopped and now - node.last_seen <= STALE_AFTER


def single_health(nodes: Iterable[Node], *, registered: bool, now: float) -> dict[str, str]:
    """The single-instance `health` object: disconnected without a live core, else per registration."""
    if not any(is_up(node, now) for node in nodes):
        return {"gateway_status": DISCONNECTED}
    return {"gateway_status": CONNECTED if registered else UNREGISTERED}


def _by_name(node: Node) -> tuple[str, str]:
    return node.hostname, node.node_id


def multiconnect_health(
    nodes: Iterable[Node], *, registered: bool, shards: int, now: float
) -> dict[str, dict[str, Any]]:
    """The multiconnect `health` object keyed `<hostname>:<container-id>`.

    The first live master by name is `primary_master`, other masters `secondary_master`. When the
    number is registered, the primary master and the first `shards` live coreapps are connected and the
    rest (spares, secondaries) disconnected; when it is not, every live node reports `unregistered`.
    Down nodes report `disconnected` until forgotten.
    """
    listed = sorted((n for n in nodes if now - n.last_seen <= FORGET_AFTER), key=_by_name)
    live_masters = [n for n in listed if n.kind == "master" and is_up(n, now)]
    primary = live_masters[0].node_id if live_masters else None
    live_cores = [n for n in listed if n.kind != "master" and is_up(n, now)]
    # Without a primary master no shard can be served.
    serving = {n.node_id for n in live_cores[:shards]} if primary is not None else set()
    result: dict[str, dict[str, Any]] = {}
    for node in listed:
        if node.kind == "master":
            role = "primary_master" if node.node_id == primary else "secondary_master"
        else:
            role = "coreapp"
        if not is_up(node, now):
            status = DISCONNECTED
        elif not registered:
            status = UNREGISTERED
        elif node.node_id == primary or node.node_id in serving:
            status = CONNECTED
        else:
            status = DISCONNECTED
        result[node.node_id] = {"gateway_status": status, "role": role}
    return result


def serving_node(
    nodes: Iterable[Node], recipient: str, *, multiconnect: bool, shards: int, now: float
) -> str | None:
    """The node id that handles messages to `recipient`, or None when no core node is up.

    Single instance: the live coreapp. Multiconnect: shard `crc32(recipient) % shards` among the
    serving coreapps (as `multiconnect_health` picks them).
    """
    live = sorted((n for n in nodes if n.kind != "master" and is_up(n, now)), key=_by_name)
    if not live:
        return None
    if not multiconnect:
        return live[0].node_id
    serving = live[: max(shards, 1)]
    return serving[zlib.crc32(recipient.encode("ascii")) % len(serving)].node_id
