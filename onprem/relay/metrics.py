"""The relay's Prometheus metrics, held in a registry of their own (one per relay instance, no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Ack latency buckets: group commit puts the body of the distribution between 0.5 and 20 ms.
ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class StoreGauges:
    """Point-in-time figures read from the store before each scrape."""

    pending: int
    oldest_pending_age_seconds: float
    dead: int


class RelayMetrics:
    """Every metric the relay exports; `render()` gives the text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "relay_received", "Requests received on an ingress route.", ["source"], registry=r
        )
        self.verified = Counter(
            "relay_verified", "Requests that passed authentication and parsing.", ["source"], registry=r
        )
        self.rejected = Counter(
            "relay_rejected", "Requests rejected with a 4xx, by reason.", ["reason"], registry=r
        )
        self.stored = Counter("relay_stored", "Events committed to the store.", ["source"], registry=r)
        self.duplicates = Counter(
            "relay_duplicates",
            "Acknowledged bodies not stored again (seen within the dedup window).",
            registry=r,
        )
        self.ack_latency = Histogram(
            "relay_ack_latency_seconds",
            "Time from request arrival to the acknowledgement of a stored event.",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.commit_batch = Histogram(
            "relay_commit_batch_size",
            "Store operations grouped into one commit.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queued = Gauge(
            "relay_queued_deliveries", "Deliveries pending (not delivered, not dead).", registry=r
        )
        self.oldest_pending_age = Gauge(
            "relay_oldest_pending_age_seconds", "Age of the oldest event with a pending delivery.", registry=r
        )
        self.dead_letters = Gauge(
            "relay_dead_letter_deliveries", "Deliveries in the dead-letter state.", registry=r
        )
        self.delivered = Counter(
            "relay_delivered", "Deliveries acknowledged by a downstream endpoint.", ["endpoint"], registry=r
        )
        self.retried = Counter(
            "relay_retried",
            "Failed delivery attempts scheduled for a retry.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "relay_dead_lettered",
            "Deliveries moved to the dead-letter state.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "relay_delivery_duration_seconds",
            "Duration of one delivery attempt to a downstream endpoint.",
            ["endpoint"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.endpoint_disabled = Gauge(
            "relay_endpoint_disabled",
            "1 when the endpoint answered 410 and is disabled.",
            ["endpoint"],
            registry=r,
        )

        self.public_not_after = Gauge(
            "relay_public_certificate_expiry_timestamp_seconds",
            "When the certificate the public listener presents expires (Unix time).",
            registry=r,
        )
        self.public_renewals = Counter(
            "relay_public_certificate_renewals",
            "Certificate issuance attempts of the public listener, by result.",
            ["result"],
            registry=r,
        )
        self.public_next_attempt = Gauge(
            "relay_public_certificate_next_attempt_timestamp_seconds",
            "When the renewer next checks or orders the public certificate (Unix time).",
            registry=r,
        )

    def set_store_gauges(self, gauges: StoreGauges) -> None:
        """Copy store figures into the gauges (called before each scrape)."""
        self.queued.set(gauges.pending)
        self.oldest_pending_age.set(gauges.oldest_pending_age_seconds)
        self.dead_letters.set(gauges.dead)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
