"""`GET|PATCH|DELETE /v1/settings/application`: the documented defaults, partial updates and reset.

Admin only. `wa_id` is the registered number (absent while unregistered); `webhooks.url` appears once
set. PATCH and DELETE answer 200 with `{}` plus `meta`. An invalid PATCH is 400 (1009) and changes
nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.appsettings import SettingsError, apply_patch, merged
from onprem.emulator.auth import require_admin
from onprem.emulator.context import EmulatorContext, context_of
from onprem.emulator.envelope import INVALID_PARAMETER, ApiFailure
from onprem.emulator.store import Store

KEY = "application"


def overrides(store: Store) -> dict[str, Any]:
    """The stored overrides of the application settings (blocking)."""
    raw = store.get_setting(KEY)
    return raw if isinstance(raw, dict) else {}


def effective(store: Store) -> dict[str, Any]:
    """The effective application settings, as core and web act on them (blocking)."""
    return merged(overrides(store))


def _view(ctx: EmulatorContext) -> dict[str, Any]:
    settings = effective(ctx.store)
    registration = ctx.store.registration()
    if registration.registered:
        settings["wa_id"] = registration.wa_id
    return settings


async def get_application(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    return answer(request, {"settings": {"application": await ctx.db(_view, ctx)}})


def _patch(store: Store, body: dict[str, Any]) -> None:
    store.put_setting(KEY, apply_patch(overrides(store), body))


async def patch_application(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    try:
        await ctx.db(_patch, ctx.store, body)
    except SettingsError as exc:
        raise ApiFailure(400, INVALID_PARAMETER, "; ".join(exc.problems)) from None
    return answer(request)


async def reset_application(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    await ctx.db(ctx.store.delete_setting, KEY)
    return answer(request)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/settings/application", get_application)
    app.router.add_patch("/v1/settings/application", patch_application)
    app.router.add_delete("/v1/settings/application", reset_application)
