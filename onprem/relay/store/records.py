"""What goes in and out of the relay's store, whatever the backend: events, deliveries, outcomes, dead
letters, the delivery states, and the one error every store operation raises.

Plain immutable values with no behaviour, so that the server, the dispatcher, the retry policy and both
backends (SQLite and Redis) can share them without importing one another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

# Delivery states. The SQLite backend stores them as these integers, the Redis backend as "0", "1", "2".
PENDING, DELIVERED, DEAD = 0, 1, 2


class RelayStoreError(Exception):
    """The store could not do what was asked: commit (disk full, I/O error, Redis down or refusing), open
    (missing or locked data directory, wrong password), or it is closed. Ingress requests get a 503, never
    a 200; the admin commands turn it into a StateError."""


class NewEvent(NamedTuple):
    """An authenticated, parsed request body about to be stored."""

    event_id: str
    """The relay's own id of the event (also the `webhook-id` sent downstream)."""
    source: str
    """Which ingress route it came from: `onprem` or `cloud`."""
    received_at: float
    """Arrival time, seconds since the epoch."""
    body: bytes
    """The exact bytes received, forwarded unchanged."""
    dedup_key: str | None
    """The message/status ids it carries, or None when it has none (never a duplicate then)."""
    leased: bool = True
    """The dispatcher holds it in memory: no poll may hand it out until the lease ends."""


class Delivery(NamedTuple):
    """One event due for one endpoint, as a claim hands it to the dispatcher."""

    seq: int
    """The store's number of the event (ascending in arrival order)."""
    event_id: str
    endpoint: str
    attempts: int
    """Attempts made so far."""
    received_at: float
    source: str
    body: bytes


class Outcome(NamedTuple):
    """What became of one delivery attempt: state DELIVERED, DEAD, or PENDING with its next attempt time."""

    seq: int
    endpoint: str
    state: int
    attempts: int
    next_at: float
    """When a PENDING delivery is due again (seconds since the epoch); ignored for the other states."""
    error: str = ""
    """Why the attempt failed (kept with a dead letter, shown by `dlq list`); empty when delivered."""


@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered delivery, as `dlq list` shows it (the body is not part of it, only its size)."""

    event_id: str
    endpoint: str
    attempts: int
    received_at: float
    updated_at: float
    """When it was dead-lettered."""
    error: str
    size: int
    """Size of the stored body in bytes."""

    def as_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready mapping (what `dlq list --json` prints for each row)."""
        return asdict(self)
