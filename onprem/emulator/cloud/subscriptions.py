"""`/{v}/{waba_id}/subscribed_apps`: subscribe (after Meta's verification handshake), list, unsubscribe.

Before answering a subscription with a callback, the emulator GETs
`<callback>?hub.mode=subscribe&hub.verify_token=<token>&hub.challenge=<random>` and requires a 2xx with
the challenge echoed; otherwise 2200 "Callback verification failed" and nothing changes.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from onprem.emulator.cloud import graph_errors as errors
from onprem.emulator.cloud.context import CloudContext, context_of
from onprem.emulator.cloud.outbound import CallbackUnreachable
from onprem.emulator.cloud.params import params, text


async def handshake(ctx: CloudContext, callback: str, verify_token: str) -> None:
    """Meta's verification GET. Raises GraphError 2200 naming what went wrong."""
    challenge = str(secrets.randbelow(10**9) + 10**9)
    try:
        answer = await ctx.http.get(
            callback,
            {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge},
            ctx.settings.webhooks.handshake_timeout_seconds,
        )
    except CallbackUnreachable as exc:
        raise errors.callback_failed(f"The callback URL {callback} could not be reached: {exc}") from None
    if not 200 <= answer.status < 300:
        raise errors.callback_failed(f"The callback URL {callback} answered HTTP {answer.status}")
    if answer.text.strip() != challenge:
        raise errors.callback_failed(f"The callback URL {callback} did not echo hub.challenge")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise errors.invalid_param("override_callback_uri must be an https:// URL")


async def subscribe(request: web.Request) -> web.Response:
    ctx = context_of(request)
    waba_id = ctx.waba(request, request.match_info["object_id"], method="post")
    found = await params(request)
    override = text(found, "override_callback_uri", required=False)
    verify_token = text(found, "verify_token", required=False)
    if override is not None:
        _check_url(override)
        if verify_token is None:
            raise errors.missing_param("verify_token")
        await handshake(ctx, override, verify_token)
    elif ctx.settings.app.callback_url is not None:
        await handshake(ctx, ctx.settings.app.callback_url, ctx.secrets.verify_token or "")
    now = ctx.clock()
    ctx.store.subscribe(waba_id, override, now=now)
    ctx.store.wake(waba_id, now=now)
    ctx.deliverer.notify()
    return web.json_response({"success": True})


async def listing(request: web.Request) -> web.Response:
    ctx = context_of(request)
    waba_id = ctx.waba(request, request.match_info["object_id"])
    subscribed, override = ctx.store.subscription(waba_id)
    data: list[dict[str, Any]] = []
    if subscribed:
        app = ctx.settings.app
        entry: dict[str, Any] = {"whatsapp_business_api_data": {"id": app.id, "name": app.name}}
        if override is not None:
            entry["override_callback_uri"] = override
        data.append(entry)
    return web.json_response({"data": data})


async def unsubscribe(request: web.Request) -> web.Response:
    ctx = context_of(request)
    waba_id = ctx.waba(request, request.match_info["object_id"], method="delete")
    ctx.store.unsubscribe(waba_id)
    return web.json_response({"success": True})


def add_routes(app: web.Application, version: str) -> None:
    path = f"/{version}/{{object_id:[0-9]+}}/subscribed_apps"
    app.router.add_post(path, subscribe)
    app.router.add_get(path, listing)
    app.router.add_delete(path, unsubscribe)
