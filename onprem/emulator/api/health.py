"""`GET /v1/health`: gateway status of the core node(s), from heartbeats, the master lease, the shard map
and the registration state (the rules are in health.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from onprem.emulator.api.common import answer
from onprem.emulator.auth import require_bearer_or_apikey
from onprem.emulator.context import EmulatorContext, context_of
from onprem.emulator.hastore import HaStore
from onprem.emulator.health import multiconnect_health, single_health


def current_health(ctx: EmulatorContext) -> dict[str, Any]:
    """The `health` object for the current store state (blocking: call through `ctx.db`)."""
    nodes = ctx.store.nodes()
    registered = ctx.store.registration().registered
    now = ctx.clock()
    if ctx.settings.multiconnect:
        ha = HaStore(ctx.store)
        return multiconnect_health(
            nodes, ha.shard_rows(), ha.lease(), registered=registered, shards=ctx.store.shards(), now=now
        )
    return single_health(nodes, registered=registered, now=now)


async def health(request: web.Request) -> web.Response:
    """Answer `{"health": ...}`; needs an `Apikey` or a bearer token."""
    await require_bearer_or_apikey(request)
    ctx = context_of(request)
    return answer(request, {"health": await ctx.db(current_health, ctx)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/health", health)
