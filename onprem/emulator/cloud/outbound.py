"""The emulator's HTTP client toward callbacks: the handshake GET and the webhook POSTs.

TLS verification is always on: the system's trust store, plus the CA file of the settings (the tool's
CA, which signs the relay's certificate). Plain http:// callbacks are allowed for local tests.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp


class CallbackUnreachable(Exception):
    """The callback could not be reached (connection, TLS or timeout)."""


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context trusting the system CAs and `ca_file` (raises OSError/SSLError if bad)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


class HttpClient:
    """GET and POST to callbacks over one aiohttp session (opened lazily on the running loop)."""

    def __init__(self, ca_file: str | None) -> None:
        self._ssl = ssl_context(ca_file)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl), auto_decompress=True
            )
        return self._session

    async def get(self, url: str, params: dict[str, str], timeout: float) -> Answer:
        """GET `url?params`; raises CallbackUnreachable."""
        try:
            async with self._client().get(
                url, params=params, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as response:
                return Answer(response.status, (await response.read())[:4096].decode("utf-8", "replace"))
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as exc:
            raise CallbackUnreachable(f"{exc.__class__.__name__}: {exc}") from None

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        """POST `body` as is; raises CallbackUnreachable."""
        try:
            async with self._client().post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                return Answer(response.status, (await response.read())[:1024].decode("utf-8", "replace"))
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as exc:
            raise CallbackUnreachable(f"{exc.__class__.__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
