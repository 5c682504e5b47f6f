"""Bearer tokens: login with HTTP Basic, a cache that knows when a token expires, renewal.

`POST /v1/users/login` answers `{"users":[{"token","expires_after"}]}`; tokens last 7 days. The
`expires_after` format differs between sources ("2018-03-01 15:29:26+00:00" or
"2018-03-01T15:29:26.000Z"), so both are accepted; an unreadable one means "assume 7 days".
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from onprem.errors import ApiError

TOKEN_LIFETIME_SECONDS = 7 * 86400.0
# Renew a little before the stated expiry so that a request never races it.
RENEW_MARGIN_SECONDS = 300.0
LOGIN_PATH = "/v1/users/login"


@dataclass(frozen=True)
class Credentials:
    """A user of the client API. The password is kept out of repr so it never reaches a log."""

    username: str
    password: str = field(repr=False)


def basic_header(username: str, password: str) -> str:
    """The `Authorization` value for HTTP Basic."""
    raw = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {raw}"


def parse_expiry(text: object) -> float | None:
    """Epoch seconds of an `expires_after` value, or None when it is missing or unreadable."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip().replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def token_from(body: Any) -> tuple[str, float | None]:
    """(token, expiry epoch or None) from a login answer. Raises ApiError when there is no token."""
    try:
        user = body["users"][0]
        token = user["token"]
    except (KeyError, IndexError, TypeError):
        raise ApiError(f"POST {LOGIN_PATH}: no token in the answer", endpoint=f"POST {LOGIN_PATH}") from None
    if not isinstance(token, str) or not token:
        raise ApiError(f"POST {LOGIN_PATH}: no token in the answer", endpoint=f"POST {LOGIN_PATH}")
    return token, parse_expiry(user.get("expires_after") if isinstance(user, dict) else None)


class TokenCache:
    """The current bearer token and when it stops being usable, by an injected wall clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    def current(self) -> str | None:
        """The token, or None when there is none or it is (about to be) expired."""
        if self._token is None or self._clock() >= self._expires_at - RENEW_MARGIN_SECONDS:
            return None
        return self._token

    def store(self, token: str, expires_at: float | None) -> None:
        self._token = token
        self._expires_at = expires_at if expires_at is not None else self._clock() + TOKEN_LIFETIME_SECONDS

    def clear(self) -> None:
        self._token = None
        self._expires_at = 0.0
