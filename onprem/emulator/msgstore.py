"""Messaging state in the shared database: messages, 24-hour windows, the callback queue, counters.

Web inserts messages and inbound events; core moves outbound messages through their statuses and
delivers the queued callbacks. Everything a step changes (a status and the callback announcing it)
is written in one transaction, guarded by the row's previous state, so several core nodes can work
the same tables without announcing anything twice. Counters are keyed by node and labels; they feed
`/v1/stats/app`. Every method blocks and may raise ClientStateError.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from onprem.emulator.dbconnect import Cursor
from onprem.emulator.store import Store

WINDOW_SECONDS = 24 * 3600.0  # the customer-service window an inbound message opens


@dataclass(frozen=True)
class Message:
    id: str
    direction: str  # "out" or "in"
    peer: str  # the recipient (out) or sender (in) wa_id
    node: str
    status: str  # out: accepted|rejected -> sent -> delivered -> read, or failed; in: received|read
    created_at: float
    next_at: float


@dataclass(frozen=True)
class Callback:
    id: str
    node: str
    kind: str  # "status_change" or "inbound_message" (the callback_requests `type` label)
    payload: dict[str, Any]
    created_at: float
    attempts: int
    next_at: float


def labels_text(labels: dict[str, str]) -> str:
    """A canonical text form of a label set (sorted JSON)."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _counter_key(node: str, name: str, labels: str) -> str:
    return hashlib.sha1(f"{node}\0{name}\0{labels}".encode(), usedforsecurity=False).hexdigest()


class MessagingStore:
    """Typed operations on the messaging tables of `store`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._d = store.dialect

    def _q(self, text: str) -> str:
        return self._d.sql(text)

    # -- writes used inside transactions ---------------------------------------------------------

    def _bump(self, cur: Cursor, node: str, name: str, labels: dict[str, str], delta: float) -> None:
        text = labels_text(labels)
        key = _counter_key(node, name, text)
        cur.execute(
            self._d.insert_ignore("counters", ("k", "node", "name", "labels", "value")),
            (key, node, name, text, 0.0),
        )
        cur.execute(self._q("UPDATE counters SET value = value + ? WHERE k = ?"), (delta, key))

    def _enqueue(self, cur: Cursor, node: str, kind: str, payload: dict[str, Any], now: float) -> str:
        callback_id = uuid.uuid4().hex
        cur.execute(
            self._q(
                "INSERT INTO callbacks (id, node, kind, payload, created_at, attempts, next_at, lease_until)"
                " VALUES (?, ?, ?, ?, ?, 0, ?, 0)"
            ),
            (callback_id, node, kind, json.dumps(payload, separators=(",", ":")), now, now),
        )
        return callback_id

    def count(self, name: str, delta: float, *, node: str = "", labels: dict[str, str] | None = None) -> None:
        """Add `delta` to counter `name` (outside any other transaction)."""
        self._store.execute(lambda cur: self._bump(cur, node, name, labels or {}, delta))

    # -- messages --------------------------------------------------------------------------------

    def window_open(self, wa_id: str, now: float) -> bool:
        """Whether `wa_id` wrote to the business within the last 24 hours."""

        def work(cur: Cursor) -> bool:
            cur.execute(self._q("SELECT last_at FROM windows WHERE wa_id = ?"), (wa_id,))
            rows = cur.fetchall()
            return bool(rows) and now - float(rows[0][0]) < WINDOW_SECONDS

        return self._store.execute(work)

    def add_outbound(self, message_id: str, recipient: str, node: str, *, rejected: bool, now: float) -> None:
        """Record a message accepted by the API; `rejected` ones only ever reach `failed` (470)."""

        def work(cur: Cursor) -> None:
            with self._store.transaction(cur):
                cur.execute(
                    self._q(
                        "INSERT INTO messages (id, direction, peer, node, status, created_at, next_at)"
                        " VALUES (?, 'out', ?, ?, ?, ?, ?)"
                    ),
                    (message_id, recipient, node, "rejected" if rejected else "accepted", now, now),
                )
                self._bump(cur, node, "out_message_persisted", {}, 1)

        self._store.execute(work)

    def add_inbound(
        self, message_id: str, sender: str, node: str, payload: dict[str, Any], *, now: float
    ) -> None:
        """Record a message from a user: it opens the 24h window and queues its callback."""

        def work(cur: Cursor) -> None:
            with self._store.transaction(cur):
                cur.execute(
                    self._q(
                        "INSERT INTO messages (id, direction, peer, node, status, created_at, next_at)"
                        " VALUES (?, 'in', ?, ?, 'received', ?, 0)"
                    ),
                    (message_id, sender, node, now),
                )
                cur.execute(self._d.upsert("windows", ("wa_id", "last_at"), "wa_id"), (sender, now))
                self._enqueue(cur, node, "inbound_message", payload, now)
                for name in ("in_message_from_server", "in_message_decoded", "in_message_persisted"):
                    self._bump(cur, node, name, {}, 1)

        self._store.execute(work)

    def mark_inbound_read(self, message_id: str) -> bool:
        """`PUT /v1/messages/{id}`: False when there is no such inbound message."""

        def work(cur: Cursor) -> bool:
            cur.execute(
                self._q("UPDATE messages SET status = 'read' WHERE id = ? AND direction = 'in'"),
                (message_id,),
            )
            if cur.rowcount == 1:
                return True
            cur.execute(self._q("SELECT 1 FROM messages WHERE id = ? AND direction = 'in'"), (message_id,))
            return bool(cur.fetchall())

        return self._store.execute(work)

    def due_messages(self, now: float, limit: int = 200, *, node: str | None = None) -> list[Message]:
        """Outbound messages whose next status is due (with `node`: only those that node sends)."""
        mine = "" if node is None else " AND node = ?"
        params: tuple[object, ...] = (now, limit) if node is None else (now, node, limit)

        def work(cur: Cursor) -> list[Message]:
            cur.execute(
                self._q(
                    "SELECT id, direction, peer, node, status, created_at, next_at FROM messages"  # noqa: S608
                    " WHERE direction = 'out' AND status IN ('accepted', 'rejected', 'sent', 'delivered')"
                    f" AND next_at <= ?{mine} ORDER BY next_at LIMIT ?"
                ),
                params,
            )
            return [
                Message(str(i), str(d), str(p), str(n), str(s), float(c), float(x))
                for i, d, p, n, s, c, x in cur.fetchall()
            ]

        return self._store.execute(work)

    def advance(
        self,
        message: Message,
        status: str,
        *,
        next_at: float,
        callback: dict[str, Any] | None,
        counters: list[tuple[str, dict[str, str], float]],
        now: float,
    ) -> bool:
        """Move `message` to `status` (if no other node did first), queue `callback`, bump `counters`."""

        def work(cur: Cursor) -> bool:
            with self._store.transaction(cur):
                cur.execute(
                    self._q("UPDATE messages SET status = ?, next_at = ? WHERE id = ? AND status = ?"),
                    (status, next_at, message.id, message.status),
                )
                if cur.rowcount != 1:
                    return False
                if callback is not None:
                    self._enqueue(cur, message.node, "status_change", callback, now)
                for name, labels, delta in counters:
                    self._bump(cur, message.node, name, labels, delta)
                return True

        return self._store.execute(work)

    # -- callbacks -------------------------------------------------------------------------------

    def claim_callbacks(self, owner_until: float, now: float, limit: int) -> list[Callback]:
        """Take up to `limit` due callbacks for delivery until `owner_until` (others skip them)."""

        def work(cur: Cursor) -> list[Callback]:
            cur.execute(
                self._q(
                    "SELECT id, node, kind, payload, created_at, attempts, next_at FROM callbacks"
                    " WHERE next_at <= ? AND lease_until <= ? ORDER BY next_at, created_at LIMIT ?"
                ),
                (now, now, limit),
            )
            claimed = []
            for cid, node, kind, payload, created, attempts, next_at in cur.fetchall():
                cur.execute(
                    self._q("UPDATE callbacks SET lease_until = ? WHERE id = ? AND lease_until <= ?"),
                    (owner_until, cid, now),
                )
                if cur.rowcount == 1:
                    body = json.loads(payload)
                    claimed.append(
                        Callback(
                            str(cid),
                            str(node),
                            str(kind),
                            body,
                            float(created),
                            int(attempts),
                            float(next_at),
                        )
                    )
            return claimed

        return self._store.execute(work)

    def finish_callback(self, callback: Callback, result: str, duration_ms: float) -> None:
        """The webhook acknowledged `callback` (or it expired): drop it and count the outcome."""

        def work(cur: Cursor) -> None:
            with self._store.transaction(cur):
                cur.execute(self._q("DELETE FROM callbacks WHERE id = ?"), (callback.id,))
                self._bump(
                    cur, callback.node, "callback_requests", {"result": result, "type": callback.kind}, 1
                )
                if result == "success":
                    self._bump(cur, callback.node, "callback_requests_duration_ms_count", {}, 1)
                    self._bump(cur, callback.node, "callback_requests_duration_ms_sum", {}, duration_ms)

        self._store.execute(work)

    def retry_callback(self, callback: Callback, result: str, next_at: float) -> None:
        """A delivery failed with `result` (an HTTP code or "error"): try again at `next_at`."""

        def work(cur: Cursor) -> None:
            with self._store.transaction(cur):
                cur.execute(
                    self._q(
                        "UPDATE callbacks SET attempts = attempts + 1, next_at = ?, lease_until = 0"
                        " WHERE id = ?"
                    ),
                    (next_at, callback.id),
                )
                self._bump(
                    cur, callback.node, "callback_requests", {"result": result, "type": callback.kind}, 1
                )

        self._store.execute(work)

    def release_callback(self, callback: Callback) -> None:
        """Give a claimed callback back untouched (no webhook URL yet)."""
        self._store.execute(
            lambda cur: cur.execute(
                self._q("UPDATE callbacks SET lease_until = 0 WHERE id = ?"), (callback.id,)
            )
        )

    # -- reading for stats -----------------------------------------------------------------------

    def counters(self) -> list[tuple[str, str, dict[str, str], float]]:
        """Every counter as (node, name, labels, value)."""

        def work(cur: Cursor) -> list[tuple[str, str, dict[str, str], float]]:
            cur.execute("SELECT node, name, labels, value FROM counters")
            return [(str(n), str(m), json.loads(lab), float(v)) for n, m, lab, v in cur.fetchall()]

        return self._store.execute(work)

    def queue_gauges(self) -> dict[str, tuple[int, int, int]]:
        """Per node: (queued callbacks, callbacks in retry, outbound messages not yet sent)."""

        def work(cur: Cursor) -> dict[str, tuple[int, int, int]]:
            result: dict[str, list[int]] = {}
            cur.execute(
                "SELECT node, COUNT(*), SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) FROM callbacks"
                " GROUP BY node"
            )
            for node, queued, retrying in cur.fetchall():
                result.setdefault(str(node), [0, 0, 0])[:2] = [int(queued), int(retrying or 0)]
            cur.execute(
                "SELECT node, COUNT(*) FROM messages WHERE direction = 'out'"
                " AND status IN ('accepted', 'rejected') GROUP BY node"
            )
            for node, pending in cur.fetchall():
                result.setdefault(str(node), [0, 0, 0])[2] = int(pending)
            return {node: (v[0], v[1], v[2]) for node, v in result.items()}

        return self._store.execute(work)

    def message_counts(self) -> dict[tuple[str, str], int]:
        """(direction, status) -> number of stored messages (for `/v1/stats/db`)."""

        def work(cur: Cursor) -> dict[tuple[str, str], int]:
            cur.execute("SELECT direction, status, COUNT(*) FROM messages GROUP BY direction, status")
            return {(str(d), str(s)): int(c) for d, s, c in cur.fetchall()}

        return self._store.execute(work)

    def contact_count(self) -> int:
        """Distinct users the client has exchanged messages with."""

        def work(cur: Cursor) -> int:
            cur.execute("SELECT COUNT(DISTINCT peer) FROM messages")
            rows = cur.fetchall()
            return int(rows[0][0]) if rows else 0

        return self._store.execute(work)
