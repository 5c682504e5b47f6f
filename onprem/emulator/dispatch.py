"""The core role's work: move sent messages through their statuses and deliver the callbacks.

Each `step`:
1. Outbound messages that are due move one status on (a multiconnect coreapp moves only its own, and
   only while it serves its shard; a master moves none) (`accepted -> sent -> delivered -> read`, one
   `status_delay` apart; a message refused for the 24-hour window goes `failed` with error 470). A
   status callback is queued when `webhooks.message.<status>` (or `sent_status` for sent) asks for it.
2. Due callbacks are claimed (at most `webhooks.max_concurrent_requests` at a time) and POSTed as JSON
   to `webhooks.url`, over TLS verified with the uploaded webhook CA (else the system trust store),
   redirects not followed. Only HTTP 200 acknowledges. A failure is retried with the documented linear
   backoff: `attempts x callback_backoff_delay_ms`, capped at `max_callback_backoff_delay_ms`; a callback
   still failing after 24 hours is dropped (counted as `expired`). Without a URL callbacks wait.
The queue is in the database, so callbacks survive a restart of `core`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from onprem.emulator.api.certificates import WEBHOOKS_CA_KEY
from onprem.emulator.api.settings import effective
from onprem.emulator.context import Clock
from onprem.emulator.msgstore import WINDOW_SECONDS, Callback, Message, MessagingStore
from onprem.emulator.rules import NEXT_STATUS, TERMINAL, notify, status_payload
from onprem.emulator.store import ClientStateError, DatabaseUnreachable, Store

log = logging.getLogger("onprem.emulator.core")

# (url, body, TLS context) -> HTTP status; raises OSError/aiohttp.ClientError/TimeoutError when unreachable.
Poster = Callable[[str, bytes, ssl.SSLContext], Awaitable[int]]

STATUS_DELAY = 1.0  # seconds between sent, delivered and read
TICK = 0.2
POST_TIMEOUT = 10.0
# A node killed mid-delivery leaves its claims; others take them over after this long.
CLAIM_SECONDS = 2 * POST_TIMEOUT + 5.0
EXPIRE_AFTER = WINDOW_SECONDS  # "retries up to a certain timeout (typically 24 hours)"
USER_AGENT = "onprem-emulator-coreapp"


@dataclass(frozen=True)
class Sending:
    """Which outbound messages a core node moves: those of `node` (None: every node's, as the single
    instance does), and only while `active(now)` (a multiconnect coreapp serving its shard)."""

    node: str | None = None
    active: Callable[[float], bool] = lambda _now: True


EVERY_MESSAGE = Sending()
NO_MESSAGE = Sending(active=lambda _now: False)  # a master: it sends nothing


def backoff_seconds(attempts: int, settings: dict[str, Any]) -> float:
    """Delay before retry number `attempts` (1 = after the first failure): linear, capped."""
    step = int(settings.get("callback_backoff_delay_ms", 3000))
    cap = int(settings.get("max_callback_backoff_delay_ms", 900000))
    return min(attempts * step, cap) / 1000.0


def _where(url: str) -> str:
    """Scheme, host and port of `url` for logs: its path may carry a secret token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class AiohttpPoster:
    """The real transport: one aiohttp session, no redirects, a timeout per request."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, url: str, body: bytes, context: ssl.SSLContext) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        async with self._session.post(
            url, data=body, headers=headers, ssl=context, allow_redirects=False
        ) as r:
            await r.read()
            return r.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Dispatcher:
    """Status progression and callback delivery over `store`; `post` and `clock` are seams."""

    def __init__(
        self,
        store: Store,
        *,
        post: Poster | None = None,
        clock: Clock = time.time,
        status_delay: float = STATUS_DELAY,
        sending: Sending = EVERY_MESSAGE,
    ) -> None:
        self._store = store
        self._messaging = MessagingStore(store)
        own = AiohttpPoster()  # cheap: its session is only opened on first use
        self._own_poster = own if post is None else None
        self._post: Poster = post if post is not None else own
        self._clock = clock
        self._status_delay = status_delay
        self._sending = sending
        self._tls: tuple[str | None, ssl.SSLContext] | None = None

    def _context(self, ca_pem: str | None) -> ssl.SSLContext:
        if self._tls is None or self._tls[0] != ca_pem:
            context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self._tls = (ca_pem, context)
        return self._tls[1]

    async def step(self) -> int:
        """One round of both jobs; returns how many callbacks were attempted."""
        settings = await asyncio.to_thread(effective, self._store)
        await self.advance(settings)
        return await self.deliver(settings)

    async def advance(self, settings: dict[str, Any]) -> None:
        now = self._clock()
        if not self._sending.active(now):
            return
        due = await asyncio.to_thread(self._messaging.due_messages, now, node=self._sending.node)
        for message in due:
            # A step is short; a node frozen in the middle of one must not go on sending once it wakes.
            if not self._sending.active(self._clock()):
                return
            await asyncio.to_thread(self._advance_one, message, settings, now)

    def _advance_one(self, message: Message, settings: dict[str, Any], now: float) -> None:
        status = NEXT_STATUS[message.status]
        callback = status_payload(message.id, message.peer, status, now) if notify(status, settings) else None
        counters: list[tuple[str, dict[str, str], float]] = [("out_message_status", {"status": status}, 1)]
        if status == "sent":
            counters.append(("out_message_sent_duration_ms_count", {}, 1))
            counters.append(("out_message_sent_duration_ms_sum", {}, (now - message.created_at) * 1000))
        next_at = now if status in TERMINAL else now + self._status_delay
        self._messaging.advance(
            message, status, next_at=next_at, callback=callback, counters=counters, now=now
        )

    async def deliver(self, settings: dict[str, Any]) -> int:
        url = settings.get("webhooks", {}).get("url") or ""
        if not url:
            return 0
        ca_pem = await asyncio.to_thread(self._store.get_setting, WEBHOOKS_CA_KEY)
        context = self._context(ca_pem if isinstance(ca_pem, str) else None)
        limit = int(settings.get("webhooks", {}).get("max_concurrent_requests", 12))
        now = self._clock()
        claimed = await asyncio.to_thread(self._messaging.claim_callbacks, now + CLAIM_SECONDS, now, limit)
        await asyncio.gather(*(self._deliver_one(cb, url, context, settings) for cb in claimed))
        return len(claimed)

    async def _deliver_one(
        self, callback: Callback, url: str, context: ssl.SSLContext, settings: dict[str, Any]
    ) -> None:
        started = self._clock()
        if started - callback.created_at > EXPIRE_AFTER:
            log.warning("callback %s dropped: undelivered for 24 hours", callback.id)
            await asyncio.to_thread(self._messaging.finish_callback, callback, "expired", 0.0)
            return
        body = json.dumps(callback.payload, separators=(",", ":")).encode("utf-8")
        try:
            status = await self._post(url, body, context)
            result = "success" if status == 200 else str(status)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            status, result = 0, "error"
            log.warning("callback to %s failed: %s", _where(url), exc.__class__.__name__)
        if status == 200:
            took = (self._clock() - started) * 1000
            await asyncio.to_thread(self._messaging.finish_callback, callback, "success", took)
            return
        delay = backoff_seconds(callback.attempts + 1, settings)
        if status:
            log.warning("callback to %s answered HTTP %d; retry in %.1fs", _where(url), status, delay)
        await asyncio.to_thread(self._messaging.retry_callback, callback, result, self._clock() + delay)

    async def run(self, stop: asyncio.Event, *, tick: float = TICK) -> None:
        """Step until `stop` is set; database outages are logged and retried, never fatal."""
        try:
            while not stop.is_set():
                busy = 0
                try:
                    busy = await self.step()
                except DatabaseUnreachable:
                    pass  # the store logs an outage when it starts and when it ends
                except ClientStateError as exc:
                    log.warning("core work paused: %s", exc)
                if not busy:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), tick)
        finally:
            if self._own_poster is not None:
                await self._own_poster.close()
