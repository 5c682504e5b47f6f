"""Who the API client is: the user it logs in as, and the login answer read as an `ApiError` when it
carries no token. The token logic itself is shared with the exporter (`onprem.tokens`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onprem.errors import ApiError
from onprem.tokens import LOGIN_PATH, parse_login_answer


@dataclass(frozen=True)
class Credentials:
    """A user of the client API. The password is kept out of repr so it never reaches a log."""

    username: str
    password: str = field(repr=False)


def token_from(body: Any) -> tuple[str, float | None]:
    """(token, expiry epoch or None) from a login answer. Raises ApiError when there is no token."""
    try:
        return parse_login_answer(body)
    except ValueError:
        raise ApiError(f"POST {LOGIN_PATH}: no token in the answer", endpoint=f"POST {LOGIN_PATH}") from None
