"""The dispatcher: fans stored events out to every downstream endpoint, signed, with retries.

Fresh events come straight from the ingress after their commit (`offer`), so the hot path never reads
the database; retries, leftovers from a previous process and anything the bounded in-memory queues could
not hold come from the store's due deliveries (`claim_due`), polled every `poll_interval_seconds`.
Every attempt's outcome is written back through the store before the delivery is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from onprem.relay.metrics import RelayMetrics
from onprem.relay.policy import GONE, Attempt, RetryPolicy, decide
from onprem.relay.settings import EndpointSettings
from onprem.relay.signing import sign_headers
from onprem.relay.store import DEAD, Delivery, RelayStoreError, Store

log = logging.getLogger("onprem.relay")


class Transport(Protocol):
    """The HTTP seam of delivery (http1.Http1Transport, or a test fake).

    Posts one body; returns the status, or None with an error when no answer came. Never raises.
    """

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt: ...

    async def close(self) -> None: ...


# Per endpoint. Beyond it the ingress stores events unleased and the poller brings them when there is room.
QUEUE_LIMIT = 4096
CLAIM_LIMIT = 1024  # deliveries per claim: one claim is one statement on the writer thread, keep it short


class Dispatcher:
    """Per endpoint: a bounded queue and `max_in_flight` workers posting from it."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        endpoints: Sequence[EndpointSettings],
        keys: dict[str, list[bytes]],
        policy: RetryPolicy,
        metrics: RelayMetrics,
        *,
        clock: Callable[[], float],
        rand: Callable[[], float],
        poll_interval: float = 1.0,
    ) -> None:
        self._store = store
        self._transport = transport
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._keys = keys
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        self._poll_interval = poll_interval
        self._queues: dict[str, asyncio.Queue[Delivery]] = {}
        self._held: set[tuple[int, str]] = set()  # queued or in flight, so a poll never doubles them
        self._disabled: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    @property
    def endpoint_names(self) -> list[str]:
        """Configured endpoint names, in order."""
        return list(self._endpoints)

    def start(self, disabled: frozenset[str] = frozenset()) -> None:
        """Start the workers and the poller on the running loop."""
        self._disabled = set(disabled)
        for name, endpoint in self._endpoints.items():
            self._queues[name] = asyncio.Queue()  # bounded by has_room(), checked before each commit
            self._metrics.endpoint_disabled.labels(name).set(1 if name in self._disabled else 0)
            for _ in range(endpoint.max_in_flight):
                self._tasks.append(asyncio.create_task(self._worker(endpoint)))
        if self._endpoints:
            self._tasks.append(asyncio.create_task(self._poller()))

    async def stop(self) -> None:
        """Cancel workers; deliveries in flight stay leased in the store and are retried after a restart."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def has_room(self) -> bool:
        """Whether the in-memory queues can take one more event (asked before the event is stored)."""
        return bool(self._queues) and all(q.qsize() < QUEUE_LIMIT for q in self._queues.values())

    def offer(self, seq: int, event_id: str, received_at: float, source: str, body: bytes) -> None:
        """Queue a just-committed, leased event for every enabled endpoint."""
        for name, q in self._queues.items():
            if name not in self._disabled:
                self._enqueue(q, Delivery(seq, event_id, name, 0, received_at, source, body))

    def wake(self) -> None:
        """Poll the store now rather than at the next interval (an event was stored unleased)."""
        self._wake.set()

    def _enqueue(self, q: asyncio.Queue[Delivery], delivery: Delivery) -> None:
        key = (delivery.seq, delivery.endpoint)
        if key not in self._held:
            self._held.add(key)
            q.put_nowait(delivery)

    async def _poller(self) -> None:
        while True:
            free = max(0, min(QUEUE_LIMIT - q.qsize() for q in self._queues.values()))
            claimed: list[Delivery] = []
            if free > QUEUE_LIMIT // 4:
                try:
                    claimed = await self._store.claim_due(min(free, CLAIM_LIMIT))
                except RelayStoreError:
                    claimed = []
                if self._store.disabled != self._disabled:
                    self.refresh_disabled(self._store.disabled)
                for delivery in claimed:
                    q = self._queues.get(delivery.endpoint)
                    if q is not None and delivery.endpoint not in self._disabled:
                        self._enqueue(q, delivery)
            if len(claimed) < min(free, CLAIM_LIMIT):  # caught up: wait for the next poll (or a wake-up)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                self._wake.clear()
            else:
                await asyncio.sleep(0.01)

    async def _worker(self, endpoint: EndpointSettings) -> None:
        q = self._queues[endpoint.name]
        while True:
            delivery = await q.get()
            try:
                await self._deliver(endpoint, delivery)
            finally:
                self._held.discard((delivery.seq, delivery.endpoint))

    async def _deliver(self, endpoint: EndpointSettings, delivery: Delivery) -> None:
        name = endpoint.name
        if name in self._disabled:
            attempt = Attempt(GONE, error="endpoint disabled (410)")
        else:
            headers = {"Content-Type": "application/json", "User-Agent": "onprem-relay"}
            keys = self._keys.get(name)
            if keys:
                headers.update(sign_headers(keys, delivery.event_id, int(self._clock()), delivery.body))
            started = time.perf_counter()
            attempt = await self._transport.post(
                endpoint.url, delivery.body, headers, endpoint.timeout_seconds
            )
            self._metrics.delivery_latency.labels(name).observe(time.perf_counter() - started)
        outcome, reason = decide(delivery, attempt, self._clock(), self._policy, self._rand)
        if reason == "delivered":
            self._metrics.delivered.labels(name).inc()
        elif outcome.state == DEAD:
            self._metrics.dead_lettered.labels(name, reason).inc()
            log.warning("relay: %s dead-lettered for %s (%s)", delivery.event_id, name, outcome.error)
        else:
            self._metrics.retried.labels(name, reason).inc()
        if reason == "gone" and name not in self._disabled:
            log.warning("relay: endpoint %s answered 410: disabled until `onprem relay replay`", name)
            self._disabled.add(name)
            self._metrics.endpoint_disabled.labels(name).set(1)
            with contextlib.suppress(RelayStoreError):
                await self._store.disable_endpoint(name, "410 gone: endpoint disabled")
        # On a store failure the lease runs out and the delivery is handed out again: at-least-once holds.
        with contextlib.suppress(RelayStoreError):
            await self._store.record([outcome])

    def refresh_disabled(self, disabled: frozenset[str]) -> None:
        """Adopt the store's view of disabled endpoints (a `replay` re-enables them)."""
        for name in self._endpoints:
            self._metrics.endpoint_disabled.labels(name).set(1 if name in disabled else 0)
        self._disabled = set(disabled)
