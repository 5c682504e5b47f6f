"""`POST /v1/users/login`, `POST /v1/users/logout` and user management (`/v1/users[/{username}]`).

Login takes Basic credentials. The default admin must set a new password on first use (error 1024);
after that its old password gets 401 with an empty body, as the real client does. A successful login
returns a fresh opaque token valid for 7 days; a password change revokes the user's older tokens.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.auth import (
    TOKEN_LIFETIME,
    format_expiry,
    new_token,
    parse_basic,
    require_admin,
    require_bearer,
)
from onprem.emulator.context import context_of
from onprem.emulator.envelope import (
    ACCESS_DENIED,
    INTERNAL_ERROR,
    INVALID_PARAMETER,
    MISSING_PARAMETER,
    NOT_FOUND,
    PASSWORD_CHANGE_REQUIRED,
    ApiFailure,
)
from onprem.emulator.passwords import hash_password, password_problems, verify_password
from onprem.emulator.store import DEFAULT_ADMIN

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
    add_management_routes(app)


# -- user management ----------------------------------------------------------------------------------

_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{4,32}$")


def _username(raw: object) -> str:
    if not raw:
        raise ApiFailure(400, MISSING_PARAMETER, "username is required.")
    if not isinstance(raw, str) or not _USERNAME.match(raw):
        raise ApiFailure(400, INVALID_PARAMETER, "username must be 4-32 letters, digits or _.@+-.")
    return raw


async def _password_hash(raw: object) -> str:
    if not raw:
        raise ApiFailure(400, MISSING_PARAMETER, "password is required.")
    if not isinstance(raw, str):
        raise ApiFailure(400, INVALID_PARAMETER, "password must be a string.")
    problems = password_problems(raw)
    if problems:
        raise ApiFailure(400, INVALID_PARAMETER, "password must " + ", ".join(problems) + ".")
    return await asyncio.to_thread(hash_password, raw)


async def _self_or_admin(request: web.Request, username: str) -> None:
    """Allow admins, and a user acting on itself; 403 (1005) for anyone else."""
    caller, _ = await require_bearer(request)
    if caller == username:
        return
    await require_admin(request)


async def create_user(request: web.Request) -> web.Response:
    """`POST /v1/users {username, password}`: 201 `{"users":[{"username"}]}`; a taken name is 1014."""
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    username = _username(body.get("username"))
    hashed = await _password_hash(body.get("password"))
    if not await ctx.db(ctx.store.create_user, username, hashed, now=ctx.clock()):
        raise ApiFailure(400, INTERNAL_ERROR, "Unable to create user. Already exist?")
    log.info("user %r created", username)
    return answer(request, {"users": [{"username": username}]}, status=201)


async def get_user(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    await _self_or_admin(request, username)
    ctx = context_of(request)
    user = await ctx.db(ctx.store.get_user, username)
    if user is None:
        raise ApiFailure(404, NOT_FOUND, f"No user {username!r}.")
    return answer(request, {"users": [{"username": user.username, "ROLES": user.role}]})


async def update_user(request: web.Request) -> web.Response:
    """`PUT /v1/users/{username} {password}`: a new password; the user's tokens are revoked."""
    username = request.match_info["username"]
    await _self_or_admin(request, username)
    ctx = context_of(request)
    hashed = await _password_hash((await json_object(request)).get("password"))
    if not await ctx.db(ctx.store.set_password, username, hashed, now=ctx.clock()):
        raise ApiFailure(404, NOT_FOUND, f"No user {username!r}.")
    return answer(request, {"users": [{"username": username}]})


async def delete_user(request: web.Request) -> web.Response:
    """`DELETE /v1/users/{username}`; the default admin cannot be deleted."""
    await require_admin(request)
    ctx = context_of(request)
    username = request.match_info["username"]
    if username == DEFAULT_ADMIN:
        raise ApiFailure(400, INVALID_PARAMETER, "The admin user cannot be deleted.")
    if not await ctx.db(ctx.store.delete_user, username):
        raise ApiFailure(404, NOT_FOUND, f"No user {username!r}.")
    log.info("user %r deleted", username)
    return answer(request, {"users": [{"username": username}]})


# `login` and `logout` are paths, not users: keep them answering 405 to other methods.
_USER_PATH = "/v1/users/{username:(?!login$|logout$)[^/]+}"


def add_management_routes(app: web.Application) -> None:
    app.router.add_post("/v1/users", create_user)
    app.router.add_get(_USER_PATH, get_user)
    app.router.add_put(_USER_PATH, update_user)
    app.router.add_delete(_USER_PATH, delete_user)
