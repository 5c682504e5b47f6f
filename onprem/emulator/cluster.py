"""The two roles a core process plays in multiconnect, one `tick` per heartbeat: owner and master.

- `ShardOwner` (every coreapp): confirms the shards the map gives it and answers which it serves now
  (`ha.Ownership`: within FENCE of the last confirmation, once the previous owner's fence ran out).
  Coreapps need no master for this, so they keep serving while every master is down.
- `MasterAgent` (every master): competes for the master lease; the holder (the primary master) checks
  the cluster every `heartbeat_interval` seconds: it promotes healthy standbys to shards without a
  serving owner for `unhealthy_interval` (`ha.failover_delay`) and drops shards beyond the count.

Ticks block (database calls) and are run on a worker thread; `serving` is read from the event loop.
Every tick may raise ClientStateError (the caller keeps ticking); the state kept between ticks decays
by time alone, so a tick that fails never extends a claim.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from onprem.emulator.api.settings import effective
from onprem.emulator.ha import FENCE, Lease, Ownership, failover_delay
from onprem.emulator.hastore import HaStore
from onprem.emulator.store import Node, Store

log = logging.getLogger("onprem.emulator.cluster")


def standbys(nodes: Iterable[Node], now: float) -> list[str]:
    """Coreapps healthy enough to be promoted (heart-beating, not stopped), oldest first."""
    healthy = [
        node for node in nodes if node.kind != "master" and not node.stopped and now - node.last_seen <= FENCE
    ]
    return [node.node_id for node in sorted(healthy, key=lambda n: (n.started_at, n.node_id))]


class ShardOwner:
    """A coreapp's side of the shard map."""

    def __init__(self, ha: HaStore, node_id: str) -> None:
        self._ha = ha
        self._node_id = node_id
        self._owned: dict[int, Ownership] = {}
        self._released = False

    def tick(self, now: float) -> None:
        """Confirm every shard the map gives this node; forget the ones it does not any more."""
        if self._released:
            return
        confirmed = {}
        for row in self._ha.owned(self._node_id):
            if self._ha.confirm(self._node_id, row.shard_id, now=now):
                confirmed[row.shard_id] = Ownership(row.shard_id, row.epoch, now, row.previous_renewed_at)
        for shard_id in sorted(set(self._owned) - set(confirmed)):
            log.warning("shard %d is no longer this node's (taken over or dropped): not serving it", shard_id)
        for shard_id in sorted(set(confirmed) - set(self._owned)):
            log.info("shard %d assigned to this node (epoch %d)", shard_id, confirmed[shard_id].epoch)
        self._owned = confirmed

    def serving(self, now: float) -> frozenset[int]:
        """The shards this node serves at `now`."""
        owned = self._owned
        return frozenset(shard for shard, held in owned.items() if held.serving(now))

    def release(self) -> None:
        """Stop serving for good and free the shards for takeover at once (a stop on purpose)."""
        self._released = True
        self._owned = {}
        self._ha.release(self._node_id)


class MasterAgent:
    """A master's side of the lease and, while it holds it, of the shard map."""

    def __init__(self, store: Store, ha: HaStore, node_id: str) -> None:
        self._store = store
        self._ha = ha
        self._node_id = node_id
        self._lease: Lease | None = None
        self._checked_at = float("-inf")

    @property
    def primary(self) -> bool:
        """Whether this master held the lease at its last tick."""
        return self._lease is not None

    def tick(self, now: float) -> None:
        """Take or renew the lease; as primary, check the cluster when `heartbeat_interval` has passed."""
        settings = effective(self._store)
        delay = failover_delay(settings["unhealthy_interval"])
        if self._lease is None or not self._lease.valid(now):
            self._lease = self._ha.acquire_lease(self._node_id, now=now, ttl=delay)
            if self._lease is None:
                return
            log.info("master lease acquired (epoch %d): this node is the primary master", self._lease.epoch)
            self._checked_at = float("-inf")
        if now - self._checked_at < float(settings["heartbeat_interval"]):
            self._keep(self._ha.renew_lease(self._lease, now=now, ttl=delay))
            return
        self._checked_at = now
        candidates = standbys(self._store.nodes(), now)
        lease, applied = self._ha.maintain(
            self._lease, shards=self._store.shards(), standbys=candidates, now=now, ttl=delay, delay=delay
        )
        self._keep(lease)
        for shard_id in applied.drop:
            log.info("shard %d dropped (the account has fewer shards now)", shard_id)
        for step in applied.promotions:
            if step.replaces is None:
                log.info("shard %d assigned to %s", step.shard_id, step.node_id)
            else:
                log.warning(
                    "shard %d: %s silent for %.0fs, promoted standby %s",
                    step.shard_id,
                    step.replaces.node_id,
                    delay,
                    step.node_id,
                )

    def _keep(self, lease: Lease | None) -> None:
        if lease is None and self._lease is not None:
            log.warning("master lease lost (epoch %d): this node is a secondary master", self._lease.epoch)
        self._lease = lease

    def release(self) -> None:
        """Give the lease up (a stop on purpose), so a secondary master takes over at once."""
        if self._lease is not None:
            self._ha.release_lease(self._lease)
            self._lease = None
