"""The web role's aiohttp application: routes, the error envelope, and serving it over TLS.

`create_app` takes its seams (store, settings, clock) as arguments, so tests build the same app over a
SQLite store and a fake clock. Every failure leaves as the documented envelope: unknown paths 404
(1006), wrong methods 405 (1025), bad bodies 400; a database outage is 503 (1023); anything
unexpected is logged and answered 500 (1014), never with a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from onprem.emulator.api import (
    account,
    backup,
    certificates,
    health,
    hooks,
    media,
    messages,
    profile,
    stats,
    users,
)
from onprem.emulator.api import settings as app_settings
from onprem.emulator.context import CONTEXT, Clock, EmulatorContext, WebSettings
from onprem.emulator.envelope import (
    DATABASE_ERROR,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    NOT_FOUND,
    ApiFailure,
    error_body,
)
from onprem.emulator.store import ClientStateError, DatabaseUnreachable, Store

log = logging.getLogger("onprem.emulator.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 16 * 1024 * 1024  # the largest media upload (WhatsApp's video limit); above this: 413

ROUTE_MODULES = (users, health, certificates, account, app_settings, profile, backup, messages, media, stats)


def _failure_response(request: web.Request, failure: ApiFailure) -> web.Response:
    if failure.empty_body:
        return web.Response(status=failure.status)
    meta = request.app[CONTEXT].settings.meta
    body = error_body(failure.code, failure.title, failure.details, meta)
    return web.json_response(body, status=failure.status)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiFailure:
    if exc.status == 404:
        return ApiFailure(404, NOT_FOUND, f"Unknown path {request.path}")
    if exc.status == 405:
        return ApiFailure(405, INVALID_REQUEST, f"Method {request.method} not allowed on {request.path}")
    if exc.status == 413:
        return ApiFailure(413, INVALID_REQUEST, "The request body is too large.")
    return ApiFailure(exc.status, INVALID_REQUEST, exc.reason)


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the client's error envelope."""
    try:
        return await handler(request)
    except ApiFailure as failure:
        return _failure_response(request, failure)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _failure_response(request, _from_http_exception(request, exc))
    except ClientStateError as exc:
        # An outage is logged by the store when it starts and when it ends, not once per request.
        level = logging.DEBUG if isinstance(exc, DatabaseUnreachable) else logging.ERROR
        log.log(level, "%s %s: %s", request.method, request.path, exc)
        return _failure_response(request, ApiFailure(503, DATABASE_ERROR, "The database is unavailable."))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _failure_response(request, ApiFailure(500, INTERNAL_ERROR, "Unexpected error."))


def _method_label(request: web.Request) -> str:
    """`GET_v1_users` for `GET /v1/users/{username}`: the route, not the path (bounded label values)."""
    resource = request.match_info.route.resource
    if resource is None:
        return f"{request.method}_unknown"
    parts = [p for p in resource.canonical.strip("/").split("/") if p and not p.startswith("{")]
    return "_".join([request.method, *parts])


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request on stderr: method, path (no query: it may carry secrets), status, time;
    and the request counted in the web metrics."""
    metrics = request.app[stats.WEB_METRICS]
    started = time.monotonic()
    metrics.in_flight += 1
    try:
        response = await handler(request)
    finally:
        metrics.in_flight -= 1
    took = (time.monotonic() - started) * 1e3
    metrics.record(_method_label(request), str(response.status), took)
    log.info("%s %s -> %d (%.1f ms)", request.method, request.path, response.status, took)
    return response


def create_app(store: Store, settings: WebSettings, *, clock: Clock = time.time) -> web.Application:
    """The web role's application over `store`; `clock` gives epoch seconds (token expiry, health)."""
    app = web.Application(middlewares=[access_log_middleware, envelope_middleware], client_max_size=MAX_BODY)
    app[CONTEXT] = EmulatorContext(store=store, settings=settings, clock=clock)
    for module in ROUTE_MODULES:
        module.add_routes(app)
    if settings.test_hooks:
        hooks.add_routes(app)
    add_trailing_slash_aliases(app)
    return app


def add_trailing_slash_aliases(app: web.Application) -> None:
    """Serve every registered path also with a trailing slash (`/v1/messages/`), with the same handlers
    and methods: Meta's Postman collection writes several paths that way and the client answers them
    alike. Done once here, after every route is registered, rather than route by route. No redirect:
    a redirected POST would lose its body in many clients."""
    router = app.router
    for resource in list(router.resources()):
        path = resource.canonical
        if not path or path.endswith("/"):
            continue
        alias = router.add_resource(path + "/")
        for route in resource:
            alias.add_route(route.method, route.handler)
