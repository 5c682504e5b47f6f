"""Logging in to the client's REST API: the Basic header, the answer's token and expiry, and a cache
that knows when a token must be renewed.

`POST /v1/users/login` answers `{"users":[{"token","expires_after"}]}`; tokens last 7 days. The
`expires_after` format differs between sources ("2018-03-01 15:29:26+00:00" or
"2018-03-01T15:29:26.000Z"), so both are read. Pure and dependency-free: the tool's API client and the
exporter sidecar both use it, each over its own HTTP transport.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

LOGIN_PATH = "/v1/users/login"
TOKEN_LIFETIME_SECONDS = 7 * 86400.0
"""How long a token is assumed to last when the answer gives no readable expiry."""


def basic_header(username: str, password: str) -> str:
    """The `Authorization` value for HTTP Basic."""
    raw = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {raw}"


def parse_expiry(text: object) -> float | None:
    """Epoch seconds of an `expires_after` value, or None when it is missing or unreadable."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip().replace(" ", "T", 1).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_login_answer(body: Any) -> tuple[str, float | None]:
    """(token, expiry in epoch seconds or None) from a decoded login answer.

    Raises ValueError when the answer carries no token."""
    try:
        user = body["users"][0]
        token = user["token"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("no users[0].token in the login answer") from None
    if not isinstance(token, str) or not token:
        raise ValueError("no users[0].token in the login answer")
    return token, parse_expiry(user.get("expires_after") if isinstance(user, dict) else None)


class TokenCache:
    """The current bearer token and when it stops being usable, by an injected wall clock.

    A token counts as expired `margin` seconds before its stated expiry, so a request never races it."""

    def __init__(self, clock: Callable[[], float], *, margin: float = 300.0) -> None:
        self._clock = clock
        self._margin = margin
        self._token: str | None = None
        self._expires_at = 0.0

    def current(self) -> str | None:
        """The token, or None when there is none or it is (about to be) expired."""
        if self._token is None or self._clock() >= self._expires_at - self._margin:
            return None
        return self._token

    def store(self, token: str, expires_at: float | None) -> None:
        """Keep `token` until `expires_at` (or for TOKEN_LIFETIME_SECONDS when unknown)."""
        self._token = token
        self._expires_at = expires_at if expires_at is not None else self._clock() + TOKEN_LIFETIME_SECONDS

    def clear(self) -> None:
        """Forget the token (it was refused)."""
        self._token = None
        self._expires_at = 0.0

    def drop(self, token: str) -> None:
        """Forget `token` if it is the current one (a 401 answered it)."""
        if self._token == token:
            self.clear()
