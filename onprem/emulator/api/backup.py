"""`POST /v1/settings/backup {password}` and `POST /v1/settings/restore {password, data}`.

Backup needs a registered number and answers `{"settings":{"data": <blob>}}`. The backup carries the
registration (number, display name), the application settings overrides, the number's two-step PIN
hash, the webhook CA and the shard count. Restore replaces those in one go (the client ends up
registered as the backed-up number); a wrong password or a damaged blob is 400 (1009) and changes
nothing. Admin only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from onprem.emulator.api.account import pin_key
from onprem.emulator.api.certificates import WEBHOOKS_CA_KEY
from onprem.emulator.api.common import answer, json_object
from onprem.emulator.api.settings import KEY as APPLICATION_KEY
from onprem.emulator.auth import require_admin
from onprem.emulator.backup import BackupError, decrypt, encrypt
from onprem.emulator.context import context_of
from onprem.emulator.envelope import INVALID_PARAMETER, INVALID_REQUEST, MISSING_PARAMETER, ApiFailure
from onprem.emulator.store import Registration, Store


def snapshot(store: Store) -> dict[str, Any]:
    """What a backup holds (blocking). Raises ApiFailure 400 when the number is not registered."""
    registration = store.registration()
    if not registration.registered:
        raise ApiFailure(400, INVALID_REQUEST, "Backups need a registered number.")
    return {
        "version": 1,
        "registration": {
            "cc": registration.cc,
            "phone_number": registration.phone_number,
            "vname": registration.vname,
        },
        "application": store.get_setting(APPLICATION_KEY),
        "two_step": store.get_setting(pin_key(registration.wa_id)),
        "webhooks_ca": store.get_setting(WEBHOOKS_CA_KEY),
        "shards": store.shards(),
    }


def apply(store: Store, payload: dict[str, Any]) -> None:
    """Restore `payload` (blocking). Raises BackupError for a payload missing its registration."""
    reg = payload.get("registration")
    if not isinstance(reg, dict) or not all(
        isinstance(reg.get(k), str) for k in ("cc", "phone_number", "vname")
    ):
        raise BackupError("the backup carries no registration")
    registration = Registration("registered", reg["cc"], reg["phone_number"], reg["vname"])
    for key, value in (
        (APPLICATION_KEY, payload.get("application")),
        (pin_key(registration.wa_id), payload.get("two_step")),
        (WEBHOOKS_CA_KEY, payload.get("webhooks_ca")),
        ("shards", payload.get("shards")),
    ):
        if value is None:
            store.delete_setting(key)
        else:
            store.put_setting(key, value)
    # Last: a client only counts as restored once everything else is in place.
    store.set_registration(registration)


def _password(body: dict[str, Any]) -> str:
    password = body.get("password")
    if not password:
        raise ApiFailure(400, MISSING_PARAMETER, "password is required.")
    if not isinstance(password, str):
        raise ApiFailure(400, INVALID_PARAMETER, "password must be a string.")
    return password


async def backup(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    password = _password(await json_object(request))
    payload = await ctx.db(snapshot, ctx.store)
    data = await asyncio.to_thread(encrypt, password, payload)
    return answer(request, {"settings": {"data": data}})


async def restore(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    password = _password(body)
    data = body.get("data")
    if not data:
        raise ApiFailure(400, MISSING_PARAMETER, "data is required.")
    if not isinstance(data, str):
        raise ApiFailure(400, INVALID_PARAMETER, "data must be the string a backup returned.")
    try:
        payload = await asyncio.to_thread(decrypt, password, data)
        await ctx.db(apply, ctx.store, payload)
    except BackupError as exc:
        raise ApiFailure(400, INVALID_PARAMETER, f"Cannot restore: {exc}.") from None
    return answer(request)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/settings/backup", backup)
    app.router.add_post("/v1/settings/restore", restore)
