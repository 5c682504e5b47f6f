"""The high-availability model of multiconnect (pure): the master lease, the shard map and failover.

The real client (HA_AND_CLOUD.md): masters compete for one lease in the database; the primary master
assigns each shard (`hash(recipient) % shards`) to one coreapp and keeps the others as standbys; when a
coreapp stops heart-beating for `unhealthy_interval` seconds the primary promotes a healthy standby and
updates the shard-map table; coreapps keep serving while every master is down. A number served by two
clients at once is banned, so a shard never has two owners. How the emulator keeps that promise:

- An owner serves its shard only within `FENCE` seconds of its last confirmation (a conditional update
  of its own shard_map row, stamped with its clock): cut off from the database, it stops by itself.
- The primary master takes a shard from a row neither confirmed nor assigned for the failover delay
  (`failover_delay`, always more than `FENCE`), in one conditional update, so an owner that confirms
  meanwhile keeps its shard; and only while it holds the lease (the update is fenced by the lease epoch).
- A new owner starts serving only once its own clock says the previous owner's fence has run out.

Time is epoch seconds passed in by the caller; hosts' clocks must agree (as the real client's do).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BEAT = 1.0
"""Seconds between two heartbeats of a node (and confirmations of an owner's shard)."""
FENCE = 3.0
"""Seconds after its last confirmation that an owner stops serving; a node whose heartbeat is older is
reported lost (it stopped heart-beating: killed, frozen or cut off from the database)."""
LEASE_NAME = "master"


def failover_delay(unhealthy_interval: float) -> float:
    """How long a shard's owner may stay silent before the primary master promotes a standby, and how
    long the master lease lasts unrenewed: `unhealthy_interval`, but never less than FENCE + BEAT so an
    owner that is taken over has surely stopped serving."""
    return max(float(unhealthy_interval), FENCE + BEAT)


def shard_of(recipient: str, shards: int) -> int:
    """The shard of a recipient: `hash(recipient) % shards` with CRC-32 as the hash (stable everywhere)."""
    return zlib.crc32(recipient.encode("utf-8")) % max(shards, 1)


class SplitBrain(AssertionError):
    """The shard map would give one shard two owners, or one coreapp two shards. Never expected: the
    database constraints and the fenced updates exclude it; raised so a bug cannot pass silently."""


@dataclass(frozen=True)
class Lease:
    """The master lease as stored: who holds it, its epoch (a fencing token: +1 at each takeover)."""

    holder: str
    epoch: int
    acquired_at: float
    expires_at: float

    def valid(self, now: float) -> bool:
        return bool(self.holder) and now < self.expires_at


@dataclass(frozen=True)
class ShardRow:
    """One row of the shard map. `renewed_at` is the owner's last confirmation (0: not confirmed since
    it was assigned, or released); `previous_renewed_at` is the last confirmation of the owner before."""

    shard_id: int
    node_id: str
    epoch: int
    assigned_at: float
    renewed_at: float
    previous_renewed_at: float

    def serving(self, now: float) -> bool:
        """Whether the owner serves the shard at `now`, as the owner itself decides (`Ownership`)."""
        return Ownership(self.shard_id, self.epoch, self.renewed_at, self.previous_renewed_at).serving(now)

    def replaceable(self, now: float, delay: float) -> bool:
        """Whether the primary master may give the shard to another coreapp: neither confirmed nor
        assigned within `delay` seconds."""
        return self.renewed_at < now - delay and self.assigned_at < now - delay


@dataclass(frozen=True)
class Ownership:
    """A coreapp's own view of a shard it confirmed at `confirmed_at` (its clock)."""

    shard_id: int
    epoch: int
    confirmed_at: float
    previous_renewed_at: float

    def serving(self, now: float) -> bool:
        """Serving: confirmed within FENCE, and the previous owner's fence has run out."""
        return (
            self.confirmed_at > 0
            and now - self.confirmed_at <= FENCE
            and now - self.previous_renewed_at > FENCE
        )


@dataclass(frozen=True)
class Promotion:
    """Give `shard_id` to `node_id`; `replaces` is the row it takes over (None: a shard without a row)."""

    shard_id: int
    node_id: str
    replaces: ShardRow | None = None


@dataclass(frozen=True)
class Plan:
    """What the primary master changes in one check: rows of shards beyond the count, and promotions."""

    drop: tuple[int, ...] = ()
    promotions: tuple[Promotion, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.drop and not self.promotions


def plan(shards: int, rows: Sequence[ShardRow], standbys: Sequence[str], *, now: float, delay: float) -> Plan:
    """The primary master's decision: drop rows of shards >= `shards`, and give every shard without a
    row, or whose row is `replaceable`, to the first healthy standby (in the order given) that owns no
    shard. A shard with no standby left keeps its silent owner: it stays unserved until one comes."""
    drop = tuple(sorted(row.shard_id for row in rows if row.shard_id >= shards))
    current = {row.shard_id: row for row in rows if row.shard_id < shards}
    owners = {row.node_id for row in current.values()}
    free = [node for node in dict.fromkeys(standbys) if node not in owners]
    promotions = []
    for shard_id in range(shards):
        row = current.get(shard_id)
        if row is not None and not row.replaceable(now, delay):
            continue
        if not free:
            break
        promotions.append(Promotion(shard_id, free.pop(0), row))
    return Plan(drop, tuple(promotions))


def check_map(rows: Iterable[ShardRow]) -> None:
    """Raise SplitBrain when a shard has two rows or a coreapp owns two shards."""
    shards: dict[int, str] = {}
    nodes: dict[str, int] = {}
    for row in rows:
        if row.shard_id in shards:
            raise SplitBrain(f"shard {row.shard_id} has two owners: {shards[row.shard_id]} and {row.node_id}")
        if row.node_id in nodes:
            raise SplitBrain(f"{row.node_id} owns two shards: {nodes[row.node_id]} and {row.shard_id}")
        shards[row.shard_id] = row.node_id
        nodes[row.node_id] = row.shard_id
