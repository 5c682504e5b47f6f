"""The retry policy: exponential backoff with jitter, Retry-After, 410, dead letters by attempts and age."""

from __future__ import annotations

import pytest

from onprem.relay.policy import Attempt, RetryPolicy, decide, parse_retry_after
from onprem.relay.store import DEAD, DELIVERED, PENDING, Delivery

NOW = 1_700_000_000.0
POLICY = RetryPolicy(max_attempts=5, max_age_seconds=3600, backoff_base_seconds=1, backoff_max_seconds=60)


def delivery(attempts: int = 0, received_at: float = NOW) -> Delivery:
    return Delivery(7, "msg_1", "crm", attempts, received_at, "onprem", b"{}")


def test_backoff_doubles_with_jitter_between_half_and_the_ceiling_and_is_capped() -> None:
    assert [POLICY.backoff(n, lambda: 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [POLICY.backoff(n, lambda: 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert POLICY.backoff(40, lambda: 1.0) == 60.0
    assert POLICY.backoff(10_000, lambda: 0.0) == 30.0


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    outcome, reason = decide(delivery(), Attempt(status), NOW, POLICY, lambda: 0.5)
    assert (outcome.state, outcome.attempts, reason) == (DELIVERED, 1, "delivered")


@pytest.mark.parametrize(
    ("status", "label"), [(500, "status_500"), (429, "status_429"), (400, "status_400"), (None, "transport")]
)
def test_failures_are_retried_later(status: int | None, label: str) -> None:
    outcome, reason = decide(delivery(attempts=2), Attempt(status), NOW, POLICY, lambda: 1.0)
    assert (outcome.state, outcome.attempts, reason) == (PENDING, 3, label)
    assert outcome.next_at == NOW + 4.0


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    outcome, _ = decide(delivery(), Attempt(503, "120"), NOW, POLICY, lambda: 1.0)
    assert outcome.next_at == NOW + 120
    capped = RetryPolicy(retry_after_max_seconds=30)
    outcome, _ = decide(delivery(), Attempt(429, "86400"), NOW, capped, lambda: 1.0)
    assert outcome.next_at == NOW + 30
    outcome, _ = decide(delivery(), Attempt(503, "soon"), NOW, POLICY, lambda: 1.0)
    assert outcome.next_at == NOW + 1.0


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert parse_retry_after("17", NOW) == 17.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", NOW) == pytest.approx(1_700_000_060.0 - NOW)
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("-3", NOW) is None


def test_410_dead_letters_and_says_gone() -> None:
    outcome, reason = decide(delivery(), Attempt(410), NOW, POLICY, lambda: 0.5)
    assert (outcome.state, reason) == (DEAD, "gone")


def test_dead_letter_after_max_attempts_or_max_age() -> None:
    outcome, reason = decide(delivery(attempts=4), Attempt(500), NOW, POLICY, lambda: 0.5)
    assert (outcome.state, reason) == (DEAD, "max_attempts")
    outcome, reason = decide(delivery(received_at=NOW - 3600), Attempt(500), NOW, POLICY, lambda: 0.5)
    assert (outcome.state, reason) == (DEAD, "max_age")
