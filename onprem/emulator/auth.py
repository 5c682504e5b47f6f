"""Who is calling: Basic credentials on login, bearer tokens, and the `Apikey` scheme.

Tokens are opaque random strings; only their SHA-256 is stored, so a leaked database does not hand out
sessions. The API key is compared in constant time. Nothing here logs a credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from aiohttp import web

from onprem.emulator.context import context_of
from onprem.emulator.envelope import ACCESS_DENIED, ApiFailure

TOKEN_LIFETIME = 7 * 24 * 3600.0  # seconds: bearer tokens expire every 7 days


def split_authorization(header: str) -> tuple[str, str]:
    """("scheme" lower-cased, credentials) of an Authorization header; ("", "") when absent."""
    scheme, _, credentials = header.strip().partition(" ")
    return scheme.lower(), credentials.strip()


def parse_basic(header: str) -> tuple[str, str] | None:
    """(username, password) from a Basic Authorization header, or None when it is not one."""
    scheme, credentials = split_authorization(header)
    if scheme != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def hash_token(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """(token, its stored hash): 256 random bits, URL-safe."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def format_expiry(epoch: float) -> str:
    """`expires_after` as the client writes it: `YYYY-MM-DD HH:MM:SS+00:00`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def api_key_matches(given: str, expected: str | None) -> bool:
    """Constant-time comparison of a presented API key with WA_API_KEY (never matches when unset)."""
    if not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _denied() -> ApiFailure:
    return ApiFailure(401, ACCESS_DENIED, "Invalid credentials.")


async def require_bearer(request: web.Request) -> tuple[str, str]:
    """(username, token hash) of a valid bearer token on `request`.

    Raises ApiFailure 401 (the error envelope) when the header is missing, malformed, unknown or expired.
    """
    scheme, credentials = split_authorization(request.headers.get("Authorization", ""))
    if scheme != "bearer" or not credentials:
        raise _denied()
    ctx = context_of(request)
    token_hash = hash_token(credentials)
    username = await ctx.db(ctx.store.token_user, token_hash, ctx.clock())
    if username is None:
        raise _denied()
    return username, token_hash


async def require_admin(request: web.Request) -> str:
    """The username of a valid bearer token that belongs to an ADMIN user.

    Raises ApiFailure 401 without a valid token, 403 (1005) for a non-admin user: a 401 would make
    clients renew a token that is perfectly valid.
    """
    username, _ = await require_bearer(request)
    ctx = context_of(request)
    user = await ctx.db(ctx.store.get_user, username)
    if user is None or user.role != "ADMIN":
        raise ApiFailure(403, ACCESS_DENIED, "This operation needs an admin user.")
    return username


async def require_bearer_or_apikey(request: web.Request) -> str:
    """The caller of a health/metrics/stats endpoint: "apikey" or the token's username.

    Raises ApiFailure 401 when neither a valid `Apikey` nor a valid bearer token is presented.
    """
    scheme, credentials = split_authorization(request.headers.get("Authorization", ""))
    if scheme == "apikey":
        if api_key_matches(credentials, context_of(request).settings.api_key):
            return "apikey"
        raise _denied()
    username, _ = await require_bearer(request)
    return username
