"""The delivery task: sends queued webhooks to each WABA's callback, signed, and retries failures with
exponential backoff until `max_age` (Meta: 7 days). The queue is in the database, so a restart resumes
it; an event is marked delivered only after a 2xx, so delivery is at-least-once.

Seams: `clock` (epoch seconds), `sleep` and the HTTP client are injected, so tests drive retries with a
fake clock and `deliver_due` directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from onprem.emulator.cloud.outbound import Answer, CallbackUnreachable
from onprem.emulator.cloud.settings import CloudEmulatorSettings
from onprem.emulator.cloud.store import CloudStore, Event
from onprem.emulator.cloud.webhooks import (
    LEGACY_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    legacy_signature,
    next_attempt,
    signature,
)

log = logging.getLogger("onprem.emulator.cloud")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
HOLD_SECONDS = 3600.0  # an event without a callback waits this long, or until a subscription wakes it


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer: ...


class Deliverer:
    """Delivers the store's due events; `run` loops until cancelled."""

    def __init__(
        self,
        store: CloudStore,
        settings: CloudEmulatorSettings,
        app_secret: bytes | None,
        http: Poster,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store = store
        self._settings = settings
        self._secret = app_secret
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._wakeup = asyncio.Event()

    def notify(self) -> None:
        """Something was queued: deliver it now rather than at the next poll."""
        self._wakeup.set()

    def callback_of(self, waba_id: str) -> str | None:
        """Where the WABA's webhooks go: its override, else the app's callback; None if not subscribed."""
        subscribed, override = self._store.subscription(waba_id)
        if not subscribed:
            return None
        return override or self._settings.app.callback_url

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
            headers[LEGACY_SIGNATURE_HEADER] = legacy_signature(self._secret, body)
        return headers

    async def deliver_one(self, event: Event) -> bool:
        """One attempt at `event`; True when delivered (2xx). Failures are scheduled or expired."""
        hooks = self._settings.webhooks
        callback = self.callback_of(event.waba_id)
        if callback is None:
            self._store.defer(event.seq, self._clock() + HOLD_SECONDS, "no subscribed callback")
            return False
        try:
            answer = await self._http.post(
                callback, event.body, self.headers(event.body), hooks.timeout_seconds
            )
            error = None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
        except CallbackUnreachable as exc:
            error = str(exc)
        now = self._clock()
        if error is None:
            self._store.delivered(event.seq, now=now)
            return True
        retry_at = next_attempt(
            event.attempts + 1,
            now,
            event.created_at,
            first=hooks.first_retry_seconds,
            factor=hooks.backoff_factor,
            cap=hooks.max_interval_seconds,
            max_age=hooks.max_age_seconds,
        )
        log.warning(
            "webhook %d to WABA %s: %s; %s",
            event.seq,
            event.waba_id,
            error,
            "expired" if retry_at is None else f"retry in {retry_at - now:.0f} s",
        )
        self._store.failed(event.seq, error, retry_at=retry_at)
        return False

    async def deliver_due(self) -> int:
        """Attempt every event due now, oldest first; the number delivered."""
        delivered = 0
        for event in self._store.due(self._clock()):
            delivered += await self.deliver_one(event)
        return delivered

    async def run(self) -> None:
        """Deliver forever: whenever something is queued, or the earliest retry is due."""
        poll = self._settings.webhooks.poll_seconds
        while True:
            self._wakeup.clear()
            try:
                await self.deliver_due()
            except Exception:  # a broken attempt must not end delivery for good
                log.exception("webhook delivery failed")
            next_due = self._store.next_due()
            wait = poll if next_due is None else max(0.0, min(poll, next_due - self._clock()))
            if wait > 0:
                waiter = asyncio.ensure_future(self._wakeup.wait())
                sleeper = asyncio.ensure_future(self._sleep(wait))
                _, pending = await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
