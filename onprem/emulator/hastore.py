"""The multiconnect tables in the shared database: the master lease and the shard map.

`master_lease` has one row (`name` = "master"): the holder, its epoch and when it expires. `shard_map`
has one row per assigned shard (primary key `shard_id`, `node_id` unique: one owner per shard, one shard
per coreapp). Every change is a single conditional statement, or a transaction opened by a fenced
update of the lease row, so concurrent masters and coreapps cannot interleave into two owners (the
argument is in ha.py). Every method blocks and may raise ClientStateError; `maintain` may raise
SplitBrain (and then changes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from onprem.emulator.dbconnect import Cursor
from onprem.emulator.ha import LEASE_NAME, Lease, Plan, ShardRow, check_map, plan
from onprem.emulator.store import Store

_LEASE_COLUMNS = ("name", "holder", "epoch", "acquired_at", "expires_at")
_ROW_COLUMNS = "shard_id, node_id, epoch, assigned_at, renewed_at, previous_renewed_at"


def _row(raw: Sequence[object]) -> ShardRow:
    shard_id, node_id, epoch, assigned, renewed, previous = raw
    return ShardRow(
        int(str(shard_id)), str(node_id), int(str(epoch)), float(str(assigned)), float(str(renewed)),
        float(str(previous)),
    )  # fmt: skip


class HaStore:
    """Typed operations on `master_lease` and `shard_map` of `store`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._d = store.dialect

    def _q(self, text: str) -> str:
        return self._d.sql(text)

    # -- the master lease ------------------------------------------------------------------------

    def _read_lease(self, cur: Cursor) -> Lease | None:
        cur.execute(
            self._q("SELECT holder, epoch, acquired_at, expires_at FROM master_lease WHERE name = ?"),
            (LEASE_NAME,),
        )
        rows = cur.fetchall()
        if not rows:
            return None
        holder, epoch, acquired, expires = rows[0]
        return Lease(str(holder), int(epoch), float(acquired), float(expires))

    def lease(self) -> Lease | None:
        """The lease as stored (None before any master ran)."""
        return self._store.execute(self._read_lease)

    def acquire_lease(self, node_id: str, *, now: float, ttl: float) -> Lease | None:
        """Take the lease when it is free, expired or already `node_id`'s (a restarted holder): a new
        epoch, valid `ttl` seconds. None when another master holds it."""

        def work(cur: Cursor) -> Lease | None:
            cur.execute(
                self._d.insert_ignore("master_lease", _LEASE_COLUMNS),
                (LEASE_NAME, node_id, 1, now, now + ttl),
            )
            if cur.rowcount != 1:
                cur.execute(
                    self._q(
                        "UPDATE master_lease SET holder = ?, epoch = epoch + 1, acquired_at = ?,"
                        " expires_at = ? WHERE name = ? AND (expires_at <= ? OR holder = ?)"
                    ),
                    (node_id, now, now + ttl, LEASE_NAME, now, node_id),
                )
                if cur.rowcount != 1:
                    return None
            lease = self._read_lease(cur)
            return lease if lease is not None and lease.holder == node_id else None

        return self._store.execute(work)

    def _fence(self, cur: Cursor, lease: Lease, expires_at: float) -> bool:
        cur.execute(
            self._q("UPDATE master_lease SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ?"),
            (expires_at, LEASE_NAME, lease.holder, lease.epoch),
        )
        return bool(cur.rowcount == 1)

    def renew_lease(self, lease: Lease, *, now: float, ttl: float) -> Lease | None:
        """Extend a held lease to `now + ttl`; None when it was lost (taken over after expiring)."""

        def work(cur: Cursor) -> Lease | None:
            if not self._fence(cur, lease, now + ttl):
                return None
            return Lease(lease.holder, lease.epoch, lease.acquired_at, now + ttl)

        return self._store.execute(work)

    def release_lease(self, lease: Lease) -> None:
        """Give the lease up at once (a master stopping on purpose): another master takes it next."""
        self._store.execute(lambda cur: self._fence(cur, lease, 0.0))

    # -- the shard map ---------------------------------------------------------------------------

    def shard_rows(self) -> list[ShardRow]:
        """Every row of the shard map, by shard."""

        def work(cur: Cursor) -> list[ShardRow]:
            cur.execute(f"SELECT {_ROW_COLUMNS} FROM shard_map ORDER BY shard_id")  # noqa: S608
            return [_row(raw) for raw in cur.fetchall()]

        return self._store.execute(work)

    def owned(self, node_id: str) -> list[ShardRow]:
        """The rows naming `node_id` as owner."""

        def work(cur: Cursor) -> list[ShardRow]:
            cur.execute(self._q(f"SELECT {_ROW_COLUMNS} FROM shard_map WHERE node_id = ?"), (node_id,))  # noqa: S608
            return [_row(raw) for raw in cur.fetchall()]

        return self._store.execute(work)

    def confirm(self, node_id: str, shard_id: int, *, now: float) -> bool:
        """The owner's confirmation that it still serves `shard_id`; False when the shard is not its own
        any more (taken over, or dropped)."""

        def work(cur: Cursor) -> bool:
            cur.execute(
                self._q("UPDATE shard_map SET renewed_at = ? WHERE shard_id = ? AND node_id = ?"),
                (now, shard_id, node_id),
            )
            return bool(cur.rowcount == 1)

        return self._store.execute(work)

    def release(self, node_id: str, *, fenced_before: float | None = None) -> int:
        """Mark `node_id`'s shards free for takeover at once (it stopped serving them); with
        `fenced_before`, only rows not confirmed since then (an owner that is surely silent). Returns the
        number of rows released."""
        sql = "UPDATE shard_map SET renewed_at = 0, assigned_at = 0 WHERE node_id = ?"
        params: tuple[object, ...] = (node_id,)
        if fenced_before is not None:
            sql += " AND renewed_at < ?"
            params = (node_id, fenced_before)

        def work(cur: Cursor) -> int:
            cur.execute(self._q(sql), params)
            return int(cur.rowcount)

        return self._store.execute(work)

    def maintain(
        self, lease: Lease, *, shards: int, standbys: Sequence[str], now: float, ttl: float, delay: float
    ) -> tuple[Lease | None, Plan]:
        """The primary master's check, in one transaction opened by renewing `lease` (which fences it:
        nothing changes once another master took the lease): read the map, `ha.plan` it with `standbys`,
        apply the plan with conditional updates, and check the result (SplitBrain rolls it all back).
        Returns (the renewed lease or None when lost, the plan as applied)."""

        def work(cur: Cursor) -> tuple[Lease | None, Plan]:
            with self._store.transaction(cur):
                if not self._fence(cur, lease, now + ttl):
                    return None, Plan()
                cur.execute(f"SELECT {_ROW_COLUMNS} FROM shard_map ORDER BY shard_id")  # noqa: S608
                decided = plan(shards, [_row(raw) for raw in cur.fetchall()], standbys, now=now, delay=delay)
                applied = self._apply(cur, decided, now=now, delay=delay)
                cur.execute(f"SELECT {_ROW_COLUMNS} FROM shard_map")  # noqa: S608
                check_map(_row(raw) for raw in cur.fetchall())
            return Lease(lease.holder, lease.epoch, lease.acquired_at, now + ttl), applied

        return self._store.execute(work)

    def _apply(self, cur: Cursor, decided: Plan, *, now: float, delay: float) -> Plan:
        if decided.drop:
            cur.execute(self._q("DELETE FROM shard_map WHERE shard_id >= ?"), (min(decided.drop),))
        done = []
        for step in decided.promotions:
            if step.replaces is None:
                cur.execute(
                    self._d.insert_ignore(
                        "shard_map",
                        ("shard_id", "node_id", "epoch", "assigned_at", "renewed_at", "previous_renewed_at"),
                    ),
                    (step.shard_id, step.node_id, 1, now, 0.0, 0.0),
                )
            else:
                # The previous owner's last confirmation is copied first: MySQL applies SET left to right.
                cur.execute(
                    self._q(
                        "UPDATE shard_map SET previous_renewed_at = CASE WHEN renewed_at >"
                        " previous_renewed_at THEN renewed_at ELSE previous_renewed_at END,"
                        " node_id = ?, epoch = epoch + 1,"
                        " assigned_at = ?, renewed_at = 0"
                        " WHERE shard_id = ? AND node_id = ? AND renewed_at < ? AND assigned_at < ?"
                    ),
                    (step.node_id, now, step.shard_id, step.replaces.node_id, now - delay, now - delay),
                )
            if cur.rowcount != 1:
                continue
            done.append(step)
            if step.replaces is not None:
                # The new owner sends what the silent one accepted and had not finished.
                cur.execute(
                    self._q(
                        "UPDATE messages SET node = ? WHERE node = ? AND direction = 'out'"
                        " AND status IN ('accepted', 'rejected', 'sent', 'delivered')"
                    ),
                    (step.node_id, step.replaces.node_id),
                )
        return Plan(decided.drop, tuple(done))
