"""Authenticated JSON reads from the client's web API: `Apikey` first, a login token as the fallback.

`UpstreamAuth` owns the secrets (read from files, re-read when they change, never logged) and decides which
`Authorization` header to send; `UpstreamClient.get_json` sends it, and on a 401 asks `Credentials` for a
better one and retries once: a rejected API key switches to the token (if a login is configured), and a
rejected token is dropped and renewed by a fresh login. The login answer and the token's lifetime are
read as the tool's API client reads them (`onprem.tokens`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onprem.exporter.settings import LoginSettings
from onprem.exporter.transport import Transport, UpstreamError, UpstreamResponse
from onprem.tokens import LOGIN_PATH, TokenCache, basic_header, parse_login_answer

# Renew a token this long before the expiry the upstream announced (tokens live 7 days).
TOKEN_MARGIN_SECONDS = 3600.0


@dataclass(frozen=True)
class _FileSecret:
    """A secret read from a file, with the file's identity so a change on disk is noticed."""

    value: str
    stamp: tuple[int, int]


def read_secret(path: str, cache: _FileSecret | None) -> _FileSecret | None:
    """The first line of `path` (None if the file is missing or empty); `cache` is reused if unchanged."""
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        if cache is not None and cache.stamp == stamp:
            return cache
        with open(path, encoding="utf-8") as handle:
            value = handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return _FileSecret(value, stamp) if value else None


class UpstreamAuth:
    """Chooses the Authorization header; renews tokens. Raises UpstreamError when no credential is usable."""

    def __init__(
        self,
        transport: Transport,
        *,
        api_key_file: str | None,
        login: LoginSettings | None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._api_key_file = api_key_file
        self._login = login
        self._api_key: _FileSecret | None = None
        self._rejected_key: str | None = None
        self._password: _FileSecret | None = None
        self._tokens = TokenCache(wall_clock, margin=TOKEN_MARGIN_SECONDS)
        self._login_lock = asyncio.Lock()

    def _key(self) -> str | None:
        if self._api_key_file is None:
            return None
        self._api_key = read_secret(self._api_key_file, self._api_key)
        return self._api_key.value if self._api_key else None

    async def header(self) -> str:
        """The Authorization header value to send now (may log in). Raises UpstreamError."""
        key = self._key()
        if key is not None and key != self._rejected_key:
            return f"Apikey {key}"
        if self._login is not None:
            return f"Bearer {await self._valid_token()}"
        if key is not None:
            return f"Apikey {key}"  # rejected before, but there is nothing else to try
        raise UpstreamError(f"no API key in {self._api_key_file} and no login configured")

    def rejected(self, header: str) -> bool:
        """Record that `header` got a 401; True if another header is worth a retry."""
        scheme, _, value = header.partition(" ")
        if scheme == "Apikey":
            self._rejected_key = value
            return self._login is not None or self._key() != value
        self._tokens.drop(value)
        return True

    async def _valid_token(self) -> str:
        async with self._login_lock:  # one login for all the collectors that need it at once
            token = self._tokens.current()
            if token is None:
                token, expires_at = await self._log_in()
                self._tokens.store(token, expires_at)
            return token

    async def _log_in(self) -> tuple[str, float | None]:
        assert self._login is not None
        self._password = read_secret(self._login.password_file, self._password)
        if self._password is None:
            raise UpstreamError(f"no password in {self._login.password_file} for the token fallback")
        resp = await self._transport.request(
            "POST",
            LOGIN_PATH,
            headers={
                "Authorization": basic_header(self._login.username, self._password.value),
                "Content-Type": "application/json",
            },
            body=b"{}",
        )
        if resp.status != 200:
            raise UpstreamError(
                f"login as {self._login.username} answered HTTP {resp.status}", status=resp.status
            )
        try:
            return parse_login_answer(json.loads(resp.body))
        except ValueError:  # also a body that is not JSON
            raise UpstreamError("login answer has no users[0].token") from None


class UpstreamClient:
    """GETs JSON documents from the upstream API with authentication and one retry on 401."""

    def __init__(self, transport: Transport, credentials: UpstreamAuth) -> None:
        self.transport = transport
        self._credentials = credentials

    async def get(self, path: str) -> UpstreamResponse:
        """The 2xx answer to GET `path`. Raises UpstreamError on failure, a non-2xx or a refused login."""
        for attempt in (1, 2):
            header = await self._credentials.header()
            resp = await self.transport.request(
                "GET", path, headers={"Authorization": header, "Accept": "application/json"}
            )
            if resp.status == 401 and attempt == 1 and self._credentials.rejected(header):
                continue
            if not 200 <= resp.status < 300:
                raise UpstreamError(
                    f"GET {path} answered HTTP {resp.status}", status=resp.status, endpoint=path
                )
            return resp
        raise UpstreamError(f"GET {path}: credentials refused", status=401, endpoint=path)  # pragma: no cover

    async def get_json(self, path: str) -> tuple[Any, UpstreamResponse]:
        """The decoded JSON body of GET `path`, and the response. Raises UpstreamError if not JSON."""
        resp = await self.get(path)
        try:
            return json.loads(resp.body), resp
        except (ValueError, UnicodeDecodeError):
            raise UpstreamError(f"GET {path}: the answer is not JSON", endpoint=path) from None
