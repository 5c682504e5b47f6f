"""Registration (`/v1/account`, `/v1/account/verify`), two-step verification and shards.

`POST /v1/account` answers 202 `{"account":[{"vname"}]}` after "sending" a 6-digit code, 201 when the
number is already registered, and error 1005 `biz_link_on_prem_reg_blocked` in sunset mode. The code
is written where tests can read it (the log line, and `<data>/registration-code`, mode 0600) since no
SMS leaves the emulator. Two-step PINs belong to the number (as on WhatsApp's servers): registering a
number whose PIN is set requires it. Admin only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.auth import require_admin
from onprem.emulator.context import EmulatorContext, context_of
from onprem.emulator.envelope import (
    ACCESS_DENIED,
    INVALID_PARAMETER,
    INVALID_REQUEST,
    MISSING_PARAMETER,
    ApiFailure,
)
from onprem.emulator.passwords import hash_password, verify_password
from onprem.emulator.store import Registration
from onprem.emulator.vname import CertError, decode_vname

log = logging.getLogger("onprem.emulator.web")

CODE_FILE = "registration-code"
SHARD_COUNTS = (1, 2, 4, 8, 16, 32)
_CC = re.compile(r"^[0-9]{1,3}$")
_PHONE = re.compile(r"^[0-9]{4,15}$")
_PIN = re.compile(r"^[0-9]{6}$")
_CODE = re.compile(r"^[0-9]{6}$")


def pin_key(wa_id: str) -> str:
    """The settings key of a number's two-step PIN hash."""
    return f"two_step:{wa_id}"


def _text(body: dict[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    raw = body.get(name)
    if raw is None or raw == "":
        raise ApiFailure(400, MISSING_PARAMETER, f"{name} is required.")
    value = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not pattern.match(value):
        raise ApiFailure(400, INVALID_PARAMETER, f"{name} must be {what}.")
    return value


def _vname(body: dict[str, Any]) -> str:
    cert = body.get("cert")
    if not cert:
        raise ApiFailure(400, MISSING_PARAMETER, "cert is required.")
    if not isinstance(cert, str):
        raise ApiFailure(400, INVALID_PARAMETER, "cert must be a base64 string.")
    try:
        return decode_vname(cert)
    except CertError as exc:
        raise ApiFailure(400, INVALID_PARAMETER, f"Invalid cert: {exc}.") from None


async def _check_pin(ctx: EmulatorContext, wa_id: str, body: dict[str, Any]) -> None:
    """Raise 400 unless the number has no PIN or `body["pin"]` matches it."""
    stored = await ctx.db(ctx.store.get_setting, pin_key(wa_id))
    if not isinstance(stored, str):
        return
    pin = body.get("pin")
    if pin is None or pin == "":
        raise ApiFailure(400, MISSING_PARAMETER, "pin is required: two-step verification is enabled.")
    if not isinstance(pin, str) or not await asyncio.to_thread(verify_password, pin, stored):
        raise ApiFailure(400, INVALID_PARAMETER, "pin does not match the two-step verification PIN.")


def _write_code(data_dir: Path, code: str) -> None:
    path = data_dir / CODE_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(code + "\n")
    os.replace(tmp, path)


async def request_code(request: web.Request) -> web.Response:
    """`POST /v1/account`: 201 if already registered, else send a code and answer 202 with vname."""
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    cc = _text(body, "cc", _CC, "1-3 digits")
    phone = _text(body, "phone_number", _PHONE, "4-15 digits without the country code")
    method = body.get("method")
    if method not in ("sms", "voice"):
        raise ApiFailure(400, INVALID_PARAMETER, "method must be sms or voice.")
    vname = _vname(body)
    if ctx.settings.sunset:
        raise ApiFailure(403, ACCESS_DENIED, "Unknown error: biz_link_on_prem_reg_blocked")
    current = await ctx.db(ctx.store.registration)
    if current.registered and current.wa_id == cc + phone:
        return answer(request, status=201)
    await _check_pin(ctx, cc + phone, body)
    code = f"{secrets.randbelow(10**6):06d}"
    await ctx.db(
        ctx.store.set_registration,
        Registration(state="pending", cc=cc, phone_number=phone, vname=vname, code=code, method=method),
    )
    if ctx.settings.data_dir is not None:
        await asyncio.to_thread(_write_code, ctx.settings.data_dir, code)
    # The emulator's stand-in for the SMS/voice call: tests and demos read the code here.
    log.info("registration code %s sent by %s to +%s %s (%s)", code, method, cc, phone, vname)
    return answer(request, {"account": [{"vname": vname}]}, status=202)


async def verify(request: web.Request) -> web.Response:
    """`POST /v1/account/verify`: the right code registers the pending number (201)."""
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    code = _text(body, "code", _CODE, "the 6-digit code that was sent")
    current = await ctx.db(ctx.store.registration)
    if current.state == "pending":
        if not hmac.compare_digest(code, current.code):
            raise ApiFailure(400, INVALID_PARAMETER, "Wrong verification code.")
        registered = Registration("registered", current.cc, current.phone_number, current.vname)
        await ctx.db(ctx.store.set_registration, registered)
        log.info("number +%s %s registered", current.cc, current.phone_number)
        return answer(request, status=201)
    if current.registered:
        return answer(request, status=201)
    raise ApiFailure(400, INVALID_REQUEST, "No code was requested: POST /v1/account first.")


async def _registered(ctx: EmulatorContext) -> Registration:
    current = await ctx.db(ctx.store.registration)
    if not current.registered:
        raise ApiFailure(400, INVALID_REQUEST, "The number is not registered.")
    return current


async def enable_two_step(request: web.Request) -> web.Response:
    """`POST /v1/settings/account/two-step {"pin"}`: set (or replace) the registered number's PIN."""
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    pin = _text(body, "pin", _PIN, "6 digits")
    current = await _registered(ctx)
    hashed = await asyncio.to_thread(hash_password, pin)
    await ctx.db(ctx.store.put_setting, pin_key(current.wa_id), hashed)
    return answer(request)


async def disable_two_step(request: web.Request) -> web.Response:
    """`DELETE /v1/settings/account/two-step`: remove the registered number's PIN."""
    await require_admin(request)
    ctx = context_of(request)
    current = await _registered(ctx)
    await ctx.db(ctx.store.delete_setting, pin_key(current.wa_id))
    return answer(request)


async def get_shards(request: web.Request) -> web.Response:
    """`GET /v1/account/shards`: `{"account":{"shards":N}}`."""
    await require_admin(request)
    ctx = context_of(request)
    return answer(request, {"account": {"shards": await ctx.db(ctx.store.shards)}})


async def set_shards(request: web.Request) -> web.Response:
    """`POST /v1/account/shards {cc, phone_number, shards, cert, pin}`: 201 once the count is stored."""
    await require_admin(request)
    ctx = context_of(request)
    body = await json_object(request)
    cc = _text(body, "cc", _CC, "1-3 digits")
    phone = _text(body, "phone_number", _PHONE, "4-15 digits without the country code")
    shards = body.get("shards")
    if shards not in SHARD_COUNTS or isinstance(shards, bool):
        raise ApiFailure(400, INVALID_PARAMETER, f"shards must be one of {list(SHARD_COUNTS)}.")
    _vname(body)
    if not ctx.settings.multiconnect and shards != 1:
        raise ApiFailure(400, INVALID_PARAMETER, "More than one shard needs a multiconnect deployment.")
    current = await _registered(ctx)
    if current.wa_id != cc + phone:
        raise ApiFailure(400, INVALID_PARAMETER, "cc and phone_number are not the registered number.")
    await _check_pin(ctx, current.wa_id, body)
    await ctx.db(ctx.store.put_setting, "shards", shards)
    return answer(request, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/account", request_code)
    app.router.add_post("/v1/account/verify", verify)
    app.router.add_get("/v1/account/shards", get_shards)
    app.router.add_post("/v1/account/shards", set_shards)
    app.router.add_post("/v1/settings/account/two-step", enable_two_step)
    app.router.add_delete("/v1/settings/account/two-step", disable_two_step)
