"""`GET /v1/stats/app`, `/v1/stats/db` and `/v1/metrics`, JSON or `?format=prometheus`.

Authorised by `Authorization: Apikey <WA_API_KEY>` or a bearer token, like `/v1/health`.
`/v1/stats/app` also reports the web process's own database requests (`db_request_*`, kept in memory);
while the database is down it answers with those alone (200), as the real client's in-memory stats do.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from onprem.emulator.api.common import answer
from onprem.emulator.api.health import current_health
from onprem.emulator.auth import require_bearer_or_apikey
from onprem.emulator.context import CONTEXT, EmulatorContext, context_of
from onprem.emulator.envelope import INVALID_PARAMETER, ApiFailure
from onprem.emulator.health import FORGET_AFTER
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.stats import WebMetrics, app_stats, db_stats, prometheus_text
from onprem.emulator.store import ClientStateError

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEB_METRICS: web.AppKey[WebMetrics] = web.AppKey("onprem_emulator_web_metrics", WebMetrics)


def _format(request: web.Request) -> str:
    wanted = request.query.get("format", "json")
    if wanted not in ("json", "prometheus"):
        raise ApiFailure(400, INVALID_PARAMETER, "format must be json or prometheus.")
    return wanted


def _app(ctx: EmulatorContext) -> dict[str, Any]:
    messaging = MessagingStore(ctx.store)
    now = ctx.clock()
    nodes = [n.node_id for n in ctx.store.nodes() if now - n.last_seen <= FORGET_AFTER and n.kind != "master"]
    multiconnect = ctx.settings.multiconnect
    return app_stats(
        messaging.counters(),
        messaging.queue_gauges(),
        nodes=nodes,
        multiconnect=multiconnect,
        states=current_health(ctx) if multiconnect else None,
    )


def _with_db_requests(ctx: EmulatorContext, app: dict[str, Any]) -> dict[str, Any]:
    """`app` plus this web process's database requests (under its node name in multiconnect)."""
    requests = ctx.store.db_requests.document()
    if ctx.settings.multiconnect:
        return {**app, ctx.settings.node_name: {**app.get(ctx.settings.node_name, {}), **requests}}
    return {**app, **requests}


def _db(ctx: EmulatorContext) -> dict[str, Any]:
    messaging = MessagingStore(ctx.store)
    return db_stats(messaging.message_counts(), messaging.contact_count())


def _respond(request: web.Request, key: str, metrics: dict[str, Any], *, per_node: bool) -> web.Response:
    if _format(request) == "prometheus":
        sets = list(metrics.items()) if per_node else [(None, metrics)]
        return web.Response(
            body=prometheus_text(sets).encode("utf-8"), headers={"Content-Type": PROMETHEUS_TYPE}
        )
    if key == "metrics":
        return answer(request, {"metrics": metrics})
    return answer(request, {"stats": {key: metrics}})


async def stats_app(request: web.Request) -> web.Response:
    await require_bearer_or_apikey(request)
    ctx = context_of(request)
    _format(request)
    try:
        app = await ctx.db(_app, ctx)
    except ClientStateError:
        app = {}  # the database is down: what is known without it (and counts this failure too)
    return _respond(request, "app", _with_db_requests(ctx, app), per_node=ctx.settings.multiconnect)


async def stats_db(request: web.Request) -> web.Response:
    await require_bearer_or_apikey(request)
    ctx = context_of(request)
    _format(request)
    return _respond(request, "db", await ctx.db(_db, ctx), per_node=False)


async def metrics(request: web.Request) -> web.Response:
    await require_bearer_or_apikey(request)
    _format(request)
    return _respond(request, "metrics", request.app[WEB_METRICS].document(), per_node=False)


def add_routes(app: web.Application) -> None:
    app[WEB_METRICS] = WebMetrics(node=app[CONTEXT].settings.node_name)
    app.router.add_get("/v1/stats/app", stats_app)
    app.router.add_get("/v1/stats/db", stats_db)
    app.router.add_get("/v1/metrics", metrics)
