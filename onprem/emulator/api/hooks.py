"""Test-only endpoints under `/_emulator/`, served only when ONPREM_EMULATOR_TEST_HOOKS=1.

They stand in for what happens outside the client in real life (an SMS arriving, a user writing to the
business) and need a bearer token of an admin, like the rest of the admin API:
- `GET /_emulator/registration-code` -> `{"code": "123456"}` while a registration is pending, else 404.
- `POST /_emulator/inbound {"from", "text", "name"?}` -> 201: a user's text message (see inject.py).
"""

from __future__ import annotations

from aiohttp import web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.auth import require_admin
from onprem.emulator.context import context_of
from onprem.emulator.envelope import INVALID_PARAMETER, NOT_FOUND, ApiFailure
from onprem.emulator.inject import InjectError, inject_inbound


async def registration_code(request: web.Request) -> web.Response:
    """The code of the pending registration."""
    await require_admin(request)
    ctx = context_of(request)
    current = await ctx.db(ctx.store.registration)
    if current.state != "pending":
        raise ApiFailure(404, NOT_FOUND, "No registration is pending.")
    return answer(request, {"code": current.code})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_emulator/registration-code", registration_code)
    add_inbound_route(app)


async def inbound(request: web.Request) -> web.Response:
    """`POST /_emulator/inbound {"from", "text", "name"?}` -> 201 `{"messages":[{"id"}]}`."""
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    try:
        message_id = await ctx.db(
            inject_inbound,
            ctx.store,
            str(body.get("from", "")),
            str(body.get("text", "")),
            name=str(body.get("name", "")),
            multiconnect=ctx.settings.multiconnect,
            now=ctx.clock(),
        )
    except InjectError as exc:
        raise ApiFailure(400, INVALID_PARAMETER, str(exc)) from None
    return answer(request, {"messages": [{"id": message_id}]}, status=201)


def add_inbound_route(app: web.Application) -> None:
    app.router.add_post("/_emulator/inbound", inbound)
