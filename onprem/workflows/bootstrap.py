"""First-login bootstrap of the client: rotate the default admin password to the generated secret."""

from __future__ import annotations

from typing import Protocol

from onprem.errors import ApiError

DEFAULT_ADMIN = ("admin", "secret")
PASSWORD_CHANGE_REQUIRED = 1024


class LoginApi(Protocol):
    def login(self, username: str, password: str, *, new_password: str | None = None) -> str: ...


def ensure_admin_password(api: LoginApi, password: str) -> str:
    """Make the admin password `password`; return "rotated" or "already set". Idempotent.

    Tries the stored password first (the usual case after the first deploy), then the factory default
    with `new_password`. Raises ApiError when neither works: someone changed it outside onprem.
    """
    try:
        api.login(DEFAULT_ADMIN[0], password)
        return "already set"
    except ApiError as exc:
        if exc.status != 401 and exc.code != PASSWORD_CHANGE_REQUIRED:
            raise
    try:
        api.login(DEFAULT_ADMIN[0], DEFAULT_ADMIN[1], new_password=password)
    except ApiError as exc:
        if exc.status == 401:
            raise ApiError(
                "the admin password is neither the stored one nor the factory default: it was changed "
                "outside onprem; give it to onprem as secrets.admin_password (source: file, env or command)",
                status=401,
                endpoint=exc.endpoint,
            ) from None
        raise
    return "rotated"
