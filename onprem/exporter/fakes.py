"""Shipped test doubles of the upstream web API, for the exporter's tests and benchmarks.

- `documents(nodes)`: the JSON answers of a healthy single instance (`nodes=1`) or multiconnect deployment
  (`nodes` core nodes: two masters, coreapps serving `fake_shards` shards, the rest standbys), shaped as
  in ONPREM_API.md sections 2.9-2.10 with the emulator's HA fields (pure).
- `FakeTransport`: an in-memory `Transport` serving those answers, with per-path overrides, an API key and
  a login, and a record of every request (no sockets).
- `fake_upstream_app`: the same answers over a real aiohttp server, with `mode` = ok | slow | garbage, for
  tests that need real sockets and TLS.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from onprem.exporter.transport import UpstreamError, UpstreamResponse

META = {"api_status": "stable", "version": "v2.57.2"}
_APP_COUNTERS = {
    "in_message_from_server": 40,
    "in_message_decoded": 40,
    "in_message_persisted": 40,
    "out_message_persisted": 50,
    "media_uploads": 2,
    "media_downloads": 1,
    "concurrent_rate_limit_triggered": 0,
}
_APP_GAUGES = {
    "callback_queue_size": 1,
    "pending_callbacks": 1,
    "pending_messages": 0,
    "in_messages_pending_processing": 0,
}
_TIMED = (
    "callback_requests_duration_ms",
    "out_message_sent_duration_ms",
    "db_request_duration_us",
    "db_request_error_duration_us",
    "internal_server_requests_duration_ms",
    "endpoint_requests_duration_ms",
)


FAKE_NOT_AFTER = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)


def _entry(kind: str, points: list[tuple[dict[str, str], float]], help_: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "help": help_,
        "data": [{"labels": labels, "value": value} for labels, value in points],
    }


SHARD_COUNTS = (1, 2, 4, 8, 16, 32)


def fake_shards(coreapps: int) -> int:
    """The shard count of a fake deployment: the largest allowed one that leaves a standby if it can."""
    return max(count for count in SHARD_COUNTS if count <= max(coreapps - 1, 1))


def node_names(nodes: int) -> list[tuple[str, str]]:
    """(node key, role) of a deployment: one node for single instance, else 2 masters + coreapps, the
    first `fake_shards` of them primary coreapps and the rest standbys."""
    if nodes <= 1:
        return [("single", "single")]
    names = [("master1:0a1b2c3d4e5f", "primary_master"), ("master2:1a1b2c3d4e5f", "secondary_master")]
    shards = fake_shards(nodes - 2)
    names += [
        (f"wacore{i}:{i:012x}", "primary_coreapp" if i <= shards else "secondary_coreapp")
        for i in range(1, nodes - 1)
    ]
    return names


def _node_health(index: int, role: str, status: str, shards: int) -> dict[str, Any]:
    if role == "primary_coreapp":
        return {"gateway_status": status, "role": role, "shard": index - 2, "shards": shards}
    connected = role == "primary_master"
    return {"gateway_status": status if connected else "disconnected", "role": role}


def app_metrics(scale: int = 1) -> dict[str, Any]:
    """One node's /v1/stats/app metrics; `scale` multiplies the counters (to make them move)."""
    out: dict[str, Any] = {name: _entry("counter", [({}, v * scale)]) for name, v in _APP_COUNTERS.items()}
    out.update({name: _entry("gauge", [({}, v)]) for name, v in _APP_GAUGES.items()})
    out["callback_requests"] = _entry(
        "counter",
        [
            ({"result": "success", "type": "status_change"}, 90 * scale),
            ({"result": "success", "type": "inbound_message"}, 40 * scale),
            ({"result": "500", "type": "status_change"}, 3 * scale),
        ],
    )
    out["out_message_status"] = _entry(
        "counter", [({"status": s}, n * scale) for s, n in (("sent", 50), ("delivered", 45), ("read", 30))]
    )
    out["endpoint_requests"] = _entry("counter", [({"method": "messages", "result": "ok"}, 50 * scale)])
    for name in _TIMED:
        out[f"{name}_count"] = _entry("counter", [({}, 50 * scale)])
        out[f"{name}_sum"] = _entry("counter", [({}, 1234 * scale)])
    return out


def web_metrics(scale: int = 1) -> dict[str, Any]:
    """The web container's /v1/metrics metrics."""
    node = {"node": "waweb"}
    return {
        "web_uptime": _entry("gauge", [(node, 3600)]),
        "web_connections": _entry("gauge", [(node, 4)]),
        "web_queue_len": _entry("gauge", [(node, 0)]),
        "web_requests": _entry("counter", [({**node, "state": "handle-request"}, 500 * scale)]),
        "api_requests_duration_ms_sum": _entry(
            "counter",
            [
                ({**node, "method": m, "result": "200"}, 900 * scale)
                for m in ("POST_v1_messages", "GET_v1_health")
            ],
        ),
        "api_requests_duration_ms_count": _entry(
            "counter",
            [
                ({**node, "method": m, "result": "200"}, 300 * scale)
                for m in ("POST_v1_messages", "GET_v1_health")
            ],
        ),
    }


def documents(nodes: int = 1, *, status: str = "connected", scale: int = 1) -> dict[str, Any]:
    """The answers of every path the exporter reads, by path."""
    names = node_names(nodes)
    if nodes <= 1:
        health: dict[str, Any] = {"gateway_status": status}
        app: dict[str, Any] = app_metrics(scale)
    else:
        shards = fake_shards(nodes - 2)
        health = {key: _node_health(i, role, status, shards) for i, (key, role) in enumerate(names)}
        app = {key: app_metrics(scale) for key, role in names if role != "secondary_master"}
    db = {
        "db_messages": _entry("gauge", [({"type": "sent"}, 50), ({"type": "received"}, 40)]),
        "db_contacts": _entry("gauge", [({"type": "whatsapp_user"}, 10)]),
    }
    return {
        "/v1/health": {"health": health, "meta": META},
        "/v1/stats/app": {"stats": {"app": app}, "meta": META},
        "/v1/metrics": {"metrics": web_metrics(scale), "meta": META},
        "/v1/stats/db": {"stats": {"db": db}, "meta": META},
    }


@dataclass
class FakeTransport:
    """In-memory upstream: answers `bodies[path]` to GETs carrying `Apikey <api_key>` or a valid token."""

    bodies: dict[str, Any] = field(default_factory=documents)
    api_key: str = "k" * 24
    password: str = "Secret-pass1"  # noqa: S105 - the fake's own test password
    overrides: dict[str, UpstreamResponse | BaseException] = field(default_factory=dict)
    delay: float = 0.0
    not_after: float = FAKE_NOT_AFTER.timestamp()
    """Expiry of the certificate the fake presents."""
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamResponse:
        auth = headers.get("Authorization", "")
        self.calls.append((method, path, auth.partition(" ")[0]))
        if self.delay:
            await asyncio.sleep(self.delay)
        override = self.overrides.get(path)
        if isinstance(override, BaseException):
            raise override
        if override is not None:
            return override
        if method == "POST" and path == "/v1/users/login":
            return self._login(auth)
        scheme, _, value = auth.partition(" ")
        if not (
            (scheme == "Apikey" and value == self.api_key) or (scheme == "Bearer" and value in self.tokens)
        ):
            return UpstreamResponse(401, b"")
        if path not in self.bodies:
            return UpstreamResponse(404, b"")
        return UpstreamResponse(200, json.dumps(self.bodies[path]).encode())

    def _login(self, auth: str) -> UpstreamResponse:
        expected = "Basic " + base64.b64encode(f"admin:{self.password}".encode()).decode()
        if auth != expected:
            return UpstreamResponse(401, b"")
        token = f"token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        answer = {"users": [{"token": token, "expires_after": "2099-01-01 00:00:00+00:00"}]}
        return UpstreamResponse(200, json.dumps(answer).encode())

    async def certificate_expiry(self) -> float:
        """The configured certificate expiry, after the configured delay."""
        self.calls.append(("TLS", "", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.not_after

    async def close(self) -> None:
        """Nothing to release."""

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [path for _, path, _ in self.calls]


class DownTransport:
    """A transport whose upstream never answers (connection refused)."""

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamResponse:
        raise UpstreamError(f"{method} {path}: connection refused")

    async def certificate_expiry(self) -> float:
        """Never: the upstream is down."""
        raise UpstreamError("TLS handshake: connection refused")

    async def close(self) -> None:
        """Nothing to release."""


def fake_upstream_app(
    bodies: Mapping[str, Any], *, api_key: str, mode: str = "ok", slow_seconds: float = 30.0
) -> web.Application:
    """An aiohttp app answering GET `bodies[path]`; mode `slow` sleeps first, `garbage` sends non-JSON."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Apikey {api_key}":
            return web.Response(status=401)
        if mode == "slow":
            await asyncio.sleep(slow_seconds)
        if mode == "garbage":
            return web.Response(body=b"\x00<html>not json{", content_type="application/json")
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app
