"""`gateway_status` of every node, and where a message goes (pure).

Single instance: `connected` (or `unregistered`) while a core node heart-beats, else `disconnected`.
Multiconnect, keyed `<hostname>:<container-id>` as documented, with the roles `primary_master` (the
holder of a valid master lease), `secondary_master`, `primary_coreapp` (named in the shard map) and
`secondary_coreapp` (a standby). Connected: the primary master and every coreapp serving its shard; a
primary coreapp promoted but not serving yet is `connecting`; every other node is `disconnected`
(every heart-beating node `unregistered` while the number is). What the documented shape lacks to tell
a failure from a standby comes as extra fields: `heartbeat` ("lost": silent for more than STALE_AFTER
seconds; "stopped": stopped on purpose) on a node that does not heart-beat, listed until FORGET_AFTER;
`shard` and `shards` (the shard it owns, of how many) on a primary coreapp.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from onprem.emulator.ha import FENCE, Lease, ShardRow, shard_of
from onprem.emulator.store import Node

STALE_AFTER = FENCE  # seconds without a heartbeat before a node counts as lost
FORGET_AFTER = 600.0  # seconds after which a silent node is no longer listed (multiconnect)

CONNECTED = "connected"
CONNECTING = "connecting"
DISCONNECTED = "disconnected"
UNREGISTERED = "unregistered"
LOST = "lost"
STOPPED = "stopped"


def heartbeat_state(node: Node, now: float) -> str | None:
    """`stopped` (on purpose), `lost` (silent for more than STALE_AFTER) or None while it heart-beats."""
    if node.stopped:
        return STOPPED
    return LOST if now - node.last_seen > STALE_AFTER else None


def is_up(node: Node, now: float) -> bool:
    """Whether `node` heart-beats at `now`."""
    return heartbeat_state(node, now) is None


def single_health(nodes: Iterable[Node], *, registered: bool, now: float) -> dict[str, str]:
    """The single-instance `health` object: disconnected without a live core, else per registration."""
    if not any(is_up(node, now) for node in nodes):
        return {"gateway_status": DISCONNECTED}
    return {"gateway_status": CONNECTED if registered else UNREGISTERED}


def _by_name(node: Node) -> tuple[str, str]:
    return node.hostname, node.node_id


def _status(*, up: bool, registered: bool, serving: bool, owner: bool) -> str:
    if not up:
        return DISCONNECTED
    if not registered:
        return UNREGISTERED
    if serving:
        return CONNECTED
    return CONNECTING if owner else DISCONNECTED


def multiconnect_health(
    nodes: Iterable[Node],
    rows: Sequence[ShardRow],
    lease: Lease | None,
    *,
    registered: bool,
    shards: int,
    now: float,
) -> dict[str, dict[str, Any]]:
    """The multiconnect `health` object (see the module docstring)."""
    listed = sorted((n for n in nodes if now - n.last_seen <= FORGET_AFTER), key=_by_name)
    primary = lease.holder if lease is not None and lease.valid(now) else None
    owned = {row.node_id: row for row in rows}
    result: dict[str, dict[str, Any]] = {}
    for node in listed:
        row = None if node.kind == "master" else owned.get(node.node_id)
        if node.kind == "master":
            role = "primary_master" if node.node_id == primary else "secondary_master"
            serving = node.node_id == primary
        else:
            role = "primary_coreapp" if row is not None else "secondary_coreapp"
            serving = row is not None and row.serving(now)
        state = heartbeat_state(node, now)
        entry: dict[str, Any] = {
            "gateway_status": _status(
                up=state is None, registered=registered, serving=serving, owner=row is not None
            ),
            "role": role,
        }
        if row is not None:
            entry["shard"], entry["shards"] = row.shard_id, shards
        if state is not None:
            entry["heartbeat"] = state
        result[node.node_id] = entry
    return result


def live_core(nodes: Iterable[Node], now: float) -> str | None:
    """Single instance: the heart-beating core node that handles every message (None: none is up)."""
    live = sorted((n for n in nodes if n.kind != "master" and is_up(n, now)), key=_by_name)
    return live[0].node_id if live else None


def route(rows: Sequence[ShardRow], recipient: str, *, shards: int, now: float) -> tuple[int, str | None]:
    """Multiconnect: the recipient's shard and the coreapp serving it now (None: it has no owner, or
    its owner is silent, or the promoted one has not started yet)."""
    shard = shard_of(recipient, shards)
    row = next((r for r in rows if r.shard_id == shard), None)
    return shard, (row.node_id if row is not None and row.serving(now) else None)
