"""`POST /v1/users/login` and `POST /v1/users/logout`.

Login takes Basic credentials. The default admin must set a new password on first use (error 1024);
after that its old password gets 401 with an empty body, as the real client does. A successful login
returns a fresh opaque token valid for 7 days; a password change revokes the user's older tokens.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.auth import TOKEN_LIFETIME, format_expiry, new_token, parse_basic, require_bearer
from onprem.emulator.context import context_of
from onprem.emulator.envelope import ACCESS_DENIED, INVALID_PARAMETER, PASSWORD_CHANGE_REQUIRED, ApiFailure
from onprem.emulator.passwords import hash_password, password_problems, verify_password

log = logging.getLogger("onprem.emulator.web")


def _rejected() -> ApiFailure:
    return ApiFailure(401, ACCESS_DENIED, empty_body=True)


async def login(request: web.Request) -> web.Response:
    """Check Basic credentials, optionally rotate the password, and issue a bearer token."""
    ctx = context_of(request)
    credentials = parse_basic(request.headers.get("Authorization", ""))
    if credentials is None:
        raise _rejected()
    body = await json_object(request, required=False)
    new_password = body.get("new_password")
    if new_password is not None and not isinstance(new_password, str):
        raise ApiFailure(400, INVALID_PARAMETER, "new_password must be a string.")
    username, password = credentials
    user = await ctx.db(ctx.store.get_user, username)
    # Hash checks are deliberately slow (scrypt): keep them off the event loop.
    if user is None or not await asyncio.to_thread(verify_password, password, user.password_hash):
        log.info("login refused for user %r", username)
        raise _rejected()
    new_hash: str | None = None
    if new_password is not None:
        problems = password_problems(new_password)
        if problems:
            raise ApiFailure(400, INVALID_PARAMETER, "new_password must " + ", ".join(problems) + ".")
        new_hash = await asyncio.to_thread(hash_password, new_password)
    elif user.must_change:
        raise ApiFailure(
            400, PASSWORD_CHANGE_REQUIRED, "Password change required: log in again with new_password."
        )
    token, token_hash = new_token()
    now = ctx.clock()
    expires_at = now + TOKEN_LIFETIME
    await ctx.db(ctx.store.issue_token, username, token_hash, expires_at, new_password_hash=new_hash, now=now)
    log.info("login of user %r%s", username, " (password changed)" if new_hash else "")
    return answer(request, {"users": [{"token": token, "expires_after": format_expiry(expires_at)}]})


async def logout(request: web.Request) -> web.Response:
    """Invalidate the bearer token the request carries."""
    ctx = context_of(request)
    username, token_hash = await require_bearer(request)
    await ctx.db(ctx.store.revoke_token, token_hash)
    log.info("logout of user %r", username)
    return answer(request)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/users/login", login)
    app.router.add_post("/v1/users/logout", logout)
