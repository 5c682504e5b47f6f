"""The relay's HTTP side: ingress routes, /healthz and /metrics, as an aiohttp application.

Routes:
  POST /webhooks/onprem/{token}  On-Premises client callbacks (secret path token, TLS from the listener)
  GET  /webhooks/cloud           Cloud API subscription check (hub.mode, hub.verify_token, hub.challenge)
  POST /webhooks/cloud           Cloud API webhooks signed with X-Hub-Signature-256 (or legacy SHA-1)
  GET  /healthz                  200 when the store commits, else 503
  GET  /metrics                  Prometheus text format
  anything else                  404, counted as `no_route`
The public listener (`relay.public`) serves only the two Cloud routes and /healthz (`build_public`).
An ingress request gets its 200 only after its event is committed; every refusal is a 4xx counted under
`relay_rejected_total{reason}`, and nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from onprem.relay.delivery import Dispatcher
from onprem.relay.metrics import CONTENT_TYPE, RelayMetrics
from onprem.relay.payload import (
    check_cloud_shape,
    check_content_type,
    check_onprem_shape,
    decode_body,
    dedup_key,
)
from onprem.relay.payload import parse_object as parse_json
from onprem.relay.secretfiles import RelaySecrets
from onprem.relay.settings import RelaySettings
from onprem.relay.store import NewEvent, RelayStoreError, Store
from onprem.relay.verify import SHA1_HEADER, SHA256_HEADER, Rejection, tokens_equal, verify_hub_signature
from onprem.relay.verify import verify_subscription as check_subscription

ACK_BODY = b'{"status":"ok"}'
ACK_HEADERS = {"Content-Type": "application/json"}
HEALTH_TIMEOUT = 5.0


class EventIds:
    """Unique, opaque event ids (the `webhook-id` downstream, stable across retries).

    A random per-process prefix plus a counter: unique across restarts and replicas, and far cheaper
    than a uuid4 per request (os.urandom was a measurable share of the hot path).
    """

    def __init__(self) -> None:
        self._prefix = f"msg_{secrets.token_hex(8)}"
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter):010x}"


class RelayApp:
    """Request handlers bound to their collaborators (all injected)."""

    def __init__(
        self,
        settings: RelaySettings,
        secrets: RelaySecrets,
        store: Store,
        metrics: RelayMetrics,
        *,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], float] = time.time,
        event_id: Callable[[], str] | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._store = store
        self._metrics = metrics
        self._dispatcher = dispatcher
        self._clock = clock
        self._event_id = event_id or EventIds()
        self._max_body = settings.limits.max_body_bytes
        self._read_timeout = settings.limits.read_timeout_seconds
        # Children bound once: a labels() lookup per request is measurable at ten thousand requests/s.
        self._received = {s: metrics.received.labels(s) for s in ("onprem", "cloud")}
        self._verified = {s: metrics.verified.labels(s) for s in ("onprem", "cloud")}
        self._stored = {s: metrics.stored.labels(s) for s in ("onprem", "cloud")}

    def build(self) -> web.Application:
        """The aiohttp application; the raw (still compressed) body is bounded by max_body_bytes."""
        app = web.Application(client_max_size=self._max_body)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        if self._settings.onprem.enabled:
            app.router.add_post("/webhooks/onprem/{token}", self.onprem_post)
        if self._settings.cloud.enabled:
            app.router.add_get("/webhooks/cloud", self.cloud_get)
            app.router.add_post("/webhooks/cloud", self.cloud_post)
        # Last, so it only sees what no route took: unknown paths (and wrong methods) are counted too.
        app.router.add_route("*", "/{tail:.*}", self.no_route)
        return app

    def build_public(self) -> web.Application:
        """The application of the public listener: the Cloud ingress and /healthz only (no /metrics, no
        On-Prem route: the internet sees nothing else)."""
        app = web.Application(client_max_size=self._max_body)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/webhooks/cloud", self.cloud_get)
        app.router.add_post("/webhooks/cloud", self.cloud_post)
        app.router.add_route("*", "/{tail:.*}", self.no_route)
        return app

    async def no_route(self, request: web.Request) -> web.Response:
        """404 for anything no route serves, counted as `no_route`."""
        return self._reject(Rejection(404, "no_route", "not found"))

    async def healthz(self, request: web.Request) -> web.Response:
        """200 when a probe write commits within 5 s, else 503."""
        try:
            await asyncio.wait_for(self._store.probe(), HEALTH_TIMEOUT)
        except (TimeoutError, RelayStoreError):
            return web.Response(status=503, text="store unavailable\n")
        return web.Response(text="ok\n")

    async def metrics(self, request: web.Request) -> web.Response:
        """The Prometheus exposition, with store gauges read just before."""
        # On failure serve the last known gauges: a scrape must not fail because the store is slow.
        with contextlib.suppress(TimeoutError, RelayStoreError):
            self._metrics.set_store_gauges(await asyncio.wait_for(self._store.gauges(), HEALTH_TIMEOUT))
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def onprem_post(self, request: web.Request) -> web.Response:
        """An On-Prem callback: path token, then body checks, then a durable ack."""
        token = self._secrets.path_token or ""

        def check(body: bytes) -> None:
            if not tokens_equal(token, request.match_info["token"]):
                raise Rejection(404, "bad_path_token", "not found")

        return await self._ingest(request, "onprem", check, check_onprem_shape, before_body=True)

    async def cloud_get(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake: echo hub.challenge when hub.verify_token matches."""
        self._metrics.received.labels("cloud_verify").inc()
        query = request.query
        try:
            challenge = check_subscription(
                self._secrets.verify_token or "",
                query.get("hub.mode"),
                query.get("hub.verify_token"),
                query.get("hub.challenge"),
            )
        except Rejection as rejection:
            return self._reject(rejection)
        self._metrics.verified.labels("cloud_verify").inc()
        return web.Response(text=challenge)

    async def cloud_post(self, request: web.Request) -> web.Response:
        """A Cloud API webhook: signature over the body bytes, then checks, then a durable ack."""
        secret = self._secrets.app_secret or b""
        allow_sha1 = self._settings.cloud.allow_legacy_sha1

        def check(body: bytes) -> None:
            headers = request.headers
            verify_hub_signature(
                secret, body, headers.get(SHA256_HEADER), headers.get(SHA1_HEADER), allow_sha1=allow_sha1
            )

        return await self._ingest(request, "cloud", check, check_cloud_shape, before_body=False)

    async def _ingest(
        self,
        request: web.Request,
        source: str,
        authenticate: Callable[[bytes], None],
        check_shape: Callable[[dict[str, Any]], None],
        *,
        before_body: bool,
    ) -> web.Response:
        started = time.perf_counter()
        self._received[source].inc()
        try:
            if before_body:
                authenticate(b"")
            check_content_type(request.headers.get("Content-Type"))
            raw = await self._read(request)
            body = decode_body(raw, request.headers.get("Content-Encoding"), self._max_body)
            if not before_body:
                authenticate(body)
            doc = parse_json(body)
            if source == "cloud" or self._settings.onprem.validate_shape:
                check_shape(doc)
            key = dedup_key(source, doc)
        except Rejection as rejection:
            return self._reject(rejection)
        self._verified[source].inc()
        # Ask before storing: a delivery the dispatcher can't hold now is stored unleased, for the poller.
        leased = self._store.leases_on_append and self._dispatcher is not None and self._dispatcher.has_room()
        event = NewEvent(self._event_id(), source, self._clock(), body, key, leased)
        try:
            seq = await self._store.append(event)
        except RelayStoreError:
            self._metrics.rejected.labels("store_unavailable").inc()
            return web.Response(status=503, text="store unavailable\n")
        if seq is None:
            self._metrics.duplicates.inc()
        else:
            self._stored[source].inc()
            if leased and self._dispatcher is not None:
                self._dispatcher.offer(seq, event.event_id, event.received_at, source, body)
            elif self._dispatcher is not None:
                self._dispatcher.wake()
        self._metrics.ack_latency.observe(time.perf_counter() - started)
        return web.Response(body=ACK_BODY, headers=ACK_HEADERS)

    async def _read(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self._max_body:
            raise Rejection(413, "body_too_large")
        try:
            if request.content.is_eof():  # the whole body came with the headers: no timer needed
                return await request.read()
            async with asyncio.timeout(self._read_timeout):
                return await request.read()
        except TimeoutError:
            raise Rejection(408, "read_timeout") from None
        except web.HTTPRequestEntityTooLarge:
            raise Rejection(413, "body_too_large") from None

    def _reject(self, rejection: Rejection) -> web.Response:
        self._metrics.rejected.labels(rejection.reason).inc()
        # Close the connection after a refusal: the rest of an oversized or slow body is not worth reading.
        return web.json_response(
            {"error": rejection.reason, "detail": rejection.detail},
            status=rejection.status,
            headers={"Connection": "close"} if rejection.status in (408, 413) else None,
        )
