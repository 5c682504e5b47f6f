"""The delivery HTTP client against real loopback servers: framing, keep-alive reuse, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

from onprem.relay.http1 import Http1Transport, _chunked_end
from onprem.relay.policy import Attempt
from tests.unit.relay.conftest import run

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}/hook"
    finally:
        await server.close()


def test_statuses_bodies_headers_and_keep_alive_reuse() -> None:
    seen: list[tuple[bytes, str, str | None]] = []
    peers: set[object] = set()

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(
            (await request.read(), request.headers["webhook-id"], request.headers.get("Content-Type"))
        )
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        status = int(request.query.get("status", "200"))
        return web.Response(
            status=status, text="x" * 5000, headers={"Retry-After": "7"} if status == 429 else {}
        )

    async def scenario() -> list[Attempt]:
        transport = Http1Transport()
        async with serving(handler) as url:
            headers = {"Content-Type": "application/json", "webhook-id": "msg_1"}
            out = [await transport.post(url, b'{"a":%d}' % n, headers, 5) for n in range(5)]
            out.append(await transport.post(url + "?status=429", b"{}", headers, 5))
        await transport.close()
        return out

    attempts = run(scenario())
    assert [a.status for a in attempts] == [200] * 5 + [429]
    assert attempts[-1].retry_after == "7"
    assert [body for body, _, _ in seen[:5]] == [b'{"a":%d}' % n for n in range(5)]
    assert seen[0][1:] == ("msg_1", "application/json")
    assert len(peers) == 1, "one keep-alive connection served every request"


def test_chunked_and_connection_close_responses() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=202)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"a" * 10, b"b" * 3000):
            await response.write(part)
        await response.write_eof()
        return response

    async def closing(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(status=503, text="bye", headers={"Connection": "close"})

    async def scenario() -> list[int | None]:
        transport = Http1Transport()
        out = []
        for handler in (chunked, closing):
            async with serving(handler) as url:
                out += [(await transport.post(url, b"{}", {}, 5)).status for _ in range(3)]
        await transport.close()
        return out

    assert run(scenario()) == [202, 202, 202, 503, 503, 503]


def test_refused_and_slow_endpoints_are_attempts_without_status() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response()

    async def scenario() -> tuple[Attempt, Attempt]:
        transport = Http1Transport()
        refused = await transport.post("http://127.0.0.1:9/hook", b"{}", {}, 2)
        async with serving(slow) as url:
            timed_out = await transport.post(url, b"{}", {}, 0.2)
        await transport.close()
        return refused, timed_out

    refused, timed_out = run(scenario())
    assert refused.status is None
    assert refused.error
    assert timed_out.status is None
    assert "timeout" in timed_out.error


def test_chunked_framing_needs_the_final_chunk() -> None:
    assert _chunked_end(bytearray(b"3\r\nabc\r\n")) == -1
    assert _chunked_end(bytearray(b"3\r\nabc\r\n0\r\n\r\nNEXT")) == 13
    assert _chunked_end(bytearray(b"0\r\nX-Trailer: 1\r\n\r\n")) == 19
