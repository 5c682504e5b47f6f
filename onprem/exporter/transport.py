"""The HTTP seam between the exporter and the client's web API.

`Transport` is what the rest of the exporter depends on; `AiohttpTransport` is the real one (HTTPS with the
web container's CA pinned by file, TLS verification always on), and tests inject fakes. A transport only
moves bytes: it raises `UpstreamError` when the upstream cannot be reached or its answer is unusable, and
returns every HTTP status, including errors, to its caller. Deadlines are the caller's (asyncio timeouts
cancel a request cleanly).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from onprem.errors import ApiError

MAX_BODY_BYTES = 16 * 1024 * 1024
# How long a certificate reading is reused: a TLS handshake per scrape would be load on the web server
# for a value that changes a few times a year. A new CA on disk invalidates it at once.
CERTIFICATE_TTL_SECONDS = 60.0


class UpstreamError(ApiError):
    """The upstream API could not be reached, refused our credentials, or answered something unusable."""


@dataclass(frozen=True)
class UpstreamResponse:
    """One HTTP answer: status and raw body."""

    status: int
    body: bytes


class Transport(Protocol):
    """Sends one request to the upstream API; `path` starts with `/v1/`."""

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamResponse:
        """Return the upstream's answer, whatever its status. Raises UpstreamError if there is none."""
        ...

    async def certificate_expiry(self) -> float:
        """When the upstream's (verified) TLS certificate expires, in Unix time. Raises UpstreamError."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def ssl_context(ca_file: str | None, trusted_ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context trusting only `ca_file` (or the system store when None), plus the
    roots in `trusted_ca_file` when that file exists and is not empty.

    Raises UpstreamError if the CA file is missing or not PEM (e.g. the web container has not made it yet),
    or the trusted roots are not PEM.
    """
    try:
        context = ssl.create_default_context(cafile=ca_file)  # None: the system store
    except (OSError, ssl.SSLError) as exc:
        raise UpstreamError(f"cannot load the upstream CA from {ca_file}: {exc}") from None
    if trusted_ca_file is None:
        return context
    try:
        with open(trusted_ca_file, encoding="ascii") as handle:
            roots = handle.read()
    except FileNotFoundError:
        return context
    except (OSError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"cannot read the trusted roots {trusted_ca_file}: {exc}") from None
    if roots.strip():
        try:
            context.load_verify_locations(cadata=roots)
        except (ssl.SSLError, ValueError) as exc:
            raise UpstreamError(f"cannot load the trusted roots from {trusted_ca_file}: {exc}") from None
    return context


def _stamp(path: str) -> tuple[int, int, int] | None:
    """(mtime, size, inode) of a file, None when it does not exist. Raises OSError otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class AiohttpTransport:
    """HTTPS to `base_url` over one pooled aiohttp session.

    The CA file and the trusted roots are re-read when they change on disk (the web container creates
    its CA on first start; `onprem certs upload` writes the roots of an uploaded chain), so the exporter
    needs no restart to follow them.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: str | None,
        trusted_ca_file: str | None = None,
        server_name: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._ca_file = ca_file
        self._trusted_ca_file = trusted_ca_file
        self._server_name = server_name
        self._max_body = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._ca_stamp: tuple[tuple[int, int, int] | None, ...] | None = None
        self._clock = clock
        self._certificate: tuple[float, ssl.SSLContext, float] | None = None  # (read at, context, notAfter)

    def _context(self) -> ssl.SSLContext:
        files = [f for f in (self._ca_file, self._trusted_ca_file) if f is not None]
        try:
            stamp = tuple(_stamp(f) for f in files)
        except OSError as exc:
            raise UpstreamError(f"cannot read the upstream CA: {exc}") from None
        if self._ca_file is not None and stamp[0] is None:
            raise UpstreamError(f"cannot read the upstream CA {self._ca_file}: it does not exist (yet)")
        if self._ssl is None or stamp != self._ca_stamp:
            self._ssl = ssl_context(self._ca_file, self._trusted_ca_file)
            self._ca_stamp = stamp
        return self._ssl

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No session-wide timeout: the caller's deadline (asyncio.timeout) bounds every request.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None),
                connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=30),
                auto_decompress=True,
            )
        return self._session

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamResponse:
        """Send the request and read the whole body (bounded). Raises UpstreamError on any failure."""
        context = self._context()
        url = self._base_url + path
        try:
            async with self._client().request(
                method,
                url,
                headers=dict(headers),
                data=body,
                ssl=context,
                server_hostname=self._server_name,
                allow_redirects=False,
            ) as resp:
                return UpstreamResponse(status=resp.status, body=await _read_bounded(resp, self._max_body))
        except UpstreamError:
            raise
        except (aiohttp.ClientError, ssl.SSLError, OSError, ValueError) as exc:
            raise UpstreamError(f"{method} {path}: {type(exc).__name__}: {exc}", endpoint=path) from None

    async def certificate_expiry(self) -> float:
        """Handshake once (verifying, as for requests) and return the leaf certificate's notAfter.

        aiohttp releases a connection as soon as a small body is read, so the certificate is taken from a
        handshake of our own rather than from a response; the reading is reused for
        CERTIFICATE_TTL_SECONDS while the CA file is unchanged. Raises UpstreamError on any failure.
        """
        context = self._context()
        cached = self._certificate
        if (
            cached is not None
            and cached[1] is context
            and self._clock() - cached[0] < CERTIFICATE_TTL_SECONDS
        ):
            return cached[2]
        parts = urlsplit(self._base_url)
        host, port = parts.hostname or "", parts.port or 443
        expiry = await handshake_expiry(host, port, context, self._server_name or host)
        self._certificate = (self._clock(), context, expiry)
        return expiry

    async def close(self) -> None:
        """Close the pooled session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def handshake_expiry(host: str, port: int, context: ssl.SSLContext, server_name: str) -> float:
    """Handshake once with `host:port` (verifying with `context` for `server_name`) and return the leaf
    certificate's notAfter as Unix time. Raises UpstreamError on any failure."""
    try:
        _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=server_name)
    except (ssl.SSLError, OSError) as exc:
        raise UpstreamError(f"TLS handshake with {host}:{port}: {exc}") from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        peer = ssl_object.getpeercert() if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    return not_after(peer)


def not_after(peer: object) -> float:
    """Unix time of `notAfter` in a decoded peer certificate (`getpeercert()`). Raises UpstreamError.

    The decoded form exists only for verified certificates, which is the only kind the exporter accepts.
    """
    value = peer.get("notAfter") if isinstance(peer, dict) else None
    if not isinstance(value, str):
        raise UpstreamError("the upstream presented no verified certificate")
    try:
        return float(ssl.cert_time_to_seconds(value))
    except ValueError:
        raise UpstreamError(f"unreadable certificate notAfter {value!r}") from None


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise UpstreamError(f"answer of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise UpstreamError(f"answer exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
