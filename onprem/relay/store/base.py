"""The two faces of the relay's store, as protocols both backends implement.

- `Store`: what a running relay (the server and the dispatcher) needs. One process owns it while it
  runs; for SQLite that ownership is exclusive (an flock on the data directory).
- `DeadLetterAdmin`: what `onprem relay dlq list` and `onprem relay replay` need. It works beside a
  running relay on the same store, never taking the relay's lock: a running relay picks replayed
  deliveries up at its next poll, and sees re-enabled endpoints there too.

Every method raises RelayStoreError (records.py) when the backend cannot do what was asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from onprem.relay.store.records import DeadLetter, Delivery, NewEvent, Outcome

if TYPE_CHECKING:
    from onprem.relay.metrics import StoreGauges


class Store(Protocol):
    """What the server and the dispatcher need from a durable store."""

    leases_on_append: bool
    """Whether an append can lease the event to this process's dispatcher, which then delivers it from
    memory (the fast path); otherwise the dispatcher finds it by polling."""

    @property
    def disabled(self) -> frozenset[str]:
        """Endpoints disabled by a 410, as last read from the store."""
        ...

    async def open(self) -> None:
        """Open the backend and release what a previous process left leased. Raises RelayStoreError."""
        ...

    async def close(self) -> None:
        """Finish what is queued, then release the backend."""
        ...

    async def append(self, event: NewEvent) -> int | None:
        """Commit an event with its deliveries; its number, or None when it is a duplicate within the
        de-duplication window. Returns only once the event is durable. Raises RelayStoreError."""
        ...

    async def claim_due(self, limit: int) -> list[Delivery]:
        """Lease up to `limit` due deliveries to enabled endpoints. Raises RelayStoreError."""
        ...

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Commit the outcomes of delivery attempts, releasing their leases. Raises RelayStoreError."""
        ...

    async def disable_endpoint(self, name: str, reason: str) -> int:
        """Disable `name` (it answered 410) and dead-letter its pending deliveries; returns how many.
        Raises RelayStoreError."""
        ...

    async def gauges(self) -> StoreGauges:
        """Pending and dead deliveries and the oldest pending age, for /metrics. Raises RelayStoreError."""
        ...

    async def purge(self) -> int:
        """Delete delivered events past the retention and expired de-duplication keys; returns how many
        events went. Raises RelayStoreError."""
        ...

    async def probe(self) -> None:
        """Commit a tiny write (for /healthz). Raises RelayStoreError when the store takes no writes."""
        ...


class DeadLetterAdmin(Protocol):
    """Listing and replaying dead letters, beside a running relay on the same store."""

    async def open(self) -> None:
        """Connect to an existing store. Raises RelayStoreError when there is none (naming where it
        looked) or it cannot be reached."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...

    async def list_dead(self, endpoint: str | None, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead-lettered deliveries (of `endpoint` only, when given), oldest first.
        Raises RelayStoreError."""
        ...

    async def replay(self, endpoint: str | None, event_ids: Sequence[str]) -> int:
        """Put dead letters back in the queue with a fresh attempt budget, atomically, and re-enable the
        endpoints involved: every dead letter, those of `endpoint`, or those of `event_ids` (both
        filters apply when both are given). Returns how many deliveries were requeued.
        Raises RelayStoreError."""
        ...

    async def bodies_mentioning(self, needle: str, since: float, limit: int) -> list[bytes]:
        """The bodies of events received since `since` (epoch seconds) that contain `needle`, oldest
        first, at most `limit` of the newest. Raises RelayStoreError."""
        ...
