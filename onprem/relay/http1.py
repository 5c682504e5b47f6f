"""A small keep-alive HTTP/1.1 client for deliveries: POST a body, read the status, reuse the connection.

Why not aiohttp's client: per request it costs several times the work of the whole ingest path, and in
one process that delivers what it receives, that decides the end-to-end rate. A delivery needs only the
status and Retry-After, so this client reads responses by Content-Length, chunked encoding or until
close, and discards their bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

from onprem.relay.policy import Attempt

MAX_HEAD = 64 * 1024
MAX_IDLE = 256  # idle connections kept per origin


class ProtocolError(Exception):
    """The downstream answered something that is not HTTP/1.x."""


class _Response:
    """Incremental parser state for one response."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.until_close = False


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, str | None, bool]] | None = None
        self.response: _Response | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            response = self.response
            if response is not None and response.until_close:
                self.waiter.set_result((response.status, response.headers.get("retry-after"), False))
            else:
                self.waiter.set_exception(
                    ConnectionResetError("the connection closed before a full response")
                )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            done = self._parse()
        except (ProtocolError, ValueError, IndexError) as exc:
            self.waiter.set_exception(ProtocolError(str(exc)))
            self.close()
            return
        if done is not None:
            self.waiter.set_result(done)

    def _parse(self) -> tuple[int, str | None, bool] | None:
        if self.response is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise ProtocolError("response head too large")
                return None
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            version, status = lines[0].split(" ", 2)[:2]
            if not version.startswith("HTTP/1."):
                raise ProtocolError(f"not HTTP/1.x: {lines[0][:40]!r}")
            response = _Response()
            response.status = int(status)
            for line in lines[1:]:
                name, _, value = line.partition(":")
                response.headers[name.strip().lower()] = value.strip()
            del self.buffer[: end + 4]
            self.response = response
        response = self.response
        headers = response.headers
        keep = headers.get("connection", "").lower() != "close"
        if response.status in (204, 304) or 100 <= response.status < 200:
            consumed = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            consumed = _chunked_end(self.buffer)
            if consumed < 0:
                return None
        elif "content-length" in headers:
            consumed = int(headers["content-length"])
            if len(self.buffer) < consumed:
                return None
        else:
            response.until_close = True  # no framing: the body ends when the server closes
            return None
        del self.buffer[:consumed]
        self.response = None
        return response.status, headers.get("retry-after"), keep

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _chunked_end(buffer: bytearray) -> int:
    """Length of a complete chunked body at the start of `buffer`, or -1 when more bytes are needed."""
    pos = 0
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return -1
        size = int(bytes(buffer[pos:line_end]).split(b";")[0].strip() or b"0", 16)
        pos = line_end + 2
        if size == 0:
            if buffer[pos : pos + 2] == b"\r\n":
                return pos + 2
            trailers_end = buffer.find(b"\r\n\r\n", pos)
            return -1 if trailers_end < 0 else trailers_end + 4
        if len(buffer) < pos + size + 2:
            return -1
        pos += size + 2


class Http1Transport:
    """The delivery transport: pooled keep-alive connections per origin; never raises from `post`."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
        """POST `body` to `url`; a timeout, refused or broken connection is an Attempt with status None."""
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        origin = (parts.scheme, host, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(timeout):
                for reused in (True, False):
                    conn = self._take(origin) if reused else await self._open(host, port, secure)
                    if conn is None:
                        continue
                    try:
                        status, retry_after, keep = await self._exchange(conn, request)
                    except ConnectionResetError:
                        conn.close()
                        if reused:
                            continue  # a keep-alive connection the server had closed: try a fresh one
                        raise
                    if keep and not conn.closed:
                        self._give_back(origin, conn)
                    else:
                        conn.close()
                    return Attempt(status, retry_after)
        except TimeoutError:
            return Attempt(None, error=f"timeout after {timeout}s")
        except (OSError, ProtocolError, ssl.SSLError) as exc:
            return Attempt(None, error=f"{exc.__class__.__name__}: {exc}"[:200])
        return Attempt(None, error="no connection")  # pragma: no cover - the loop always returns or raises

    async def _open(self, host: str, port: int, secure: bool) -> _Connection:
        loop = asyncio.get_running_loop()
        context = (self._ssl or ssl.create_default_context()) if secure else None
        _, conn = await loop.create_connection(
            _Connection, host, port, ssl=context, server_hostname=host if secure else None
        )
        return conn

    @staticmethod
    async def _exchange(conn: _Connection, request: bytes) -> tuple[int, str | None, bool]:
        loop = asyncio.get_running_loop()
        conn.waiter = loop.create_future()
        assert conn.transport is not None
        conn.transport.write(request)
        try:
            return await conn.waiter
        except BaseException:
            conn.close()  # cancelled or failed mid-exchange: the connection's state is unknown
            raise

    def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        pool = self._idle.get(origin)
        while pool:
            conn = pool.pop()
            if not conn.closed and not conn.buffer:
                return conn
            conn.close()
        return None

    def _give_back(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        pool = self._idle.setdefault(origin, [])
        if len(pool) < MAX_IDLE:
            conn.waiter = None
            pool.append(conn)
        else:
            conn.close()

    async def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            for conn in pool:
                with contextlib.suppress(Exception):
                    conn.close()
        self._idle.clear()
