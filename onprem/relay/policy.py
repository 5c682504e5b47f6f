"""What to do after a delivery attempt (pure): delivered, retry later (when), disable, or dead-letter."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass

from onprem.relay.store.records import DEAD, DELIVERED, PENDING, Delivery, Outcome

GONE = 410


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by the event's age."""

    max_attempts: int = 15
    max_age_seconds: float = 3 * 86400.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 600.0
    retry_after_max_seconds: float = 3600.0

    def backoff(self, attempts: int, rand: Callable[[], float]) -> float:
        """Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, drawn from [cap/2, cap]
        ("equal jitter": senders that failed together spread out, yet none retries at once)."""
        exponent = min(max(attempts - 1, 0), 62)
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * (2.0**exponent))
        return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True)
class Attempt:
    """The result of one POST: an HTTP status, or None when no answer came (connect error, timeout)."""

    status: int | None
    retry_after: str | None = None
    error: str = ""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def decide(
    delivery: Delivery, attempt: Attempt, now: float, policy: RetryPolicy, rand: Callable[[], float]
) -> tuple[Outcome, str]:
    """The outcome to record and a reason label (`delivered`, `gone`, `status_503`, `transport`, ...)."""
    attempts = delivery.attempts + 1
    if attempt.status is not None and 200 <= attempt.status < 300:
        return Outcome(delivery.seq, delivery.endpoint, DELIVERED, attempts, now), "delivered"
    if attempt.status == GONE:
        return Outcome(
            delivery.seq, delivery.endpoint, DEAD, attempts, now, "410 gone: endpoint disabled"
        ), "gone"
    reason = "transport" if attempt.status is None else f"status_{attempt.status}"
    error = attempt.error or reason
    if attempts >= policy.max_attempts:
        return Outcome(
            delivery.seq, delivery.endpoint, DEAD, attempts, now, f"max attempts: {error}"
        ), "max_attempts"
    if now - delivery.received_at >= policy.max_age_seconds:
        return Outcome(delivery.seq, delivery.endpoint, DEAD, attempts, now, f"max age: {error}"), "max_age"
    delay = policy.backoff(attempts, rand)
    asked = parse_retry_after(attempt.retry_after, now)
    if asked is not None:
        delay = max(delay, min(asked, policy.retry_after_max_seconds))
    return Outcome(delivery.seq, delivery.endpoint, PENDING, attempts, now + delay, error), reason
