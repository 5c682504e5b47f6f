"""Phone numbers: `GET /{v}/{id}` (a phone number or a media object), `register` and `deregister`.

`register` with a `backup` really decrypts the On-Prem backup with its password and requires it to be
of this number; the two-step PIN is checked against the backup's PIN (else the one set by an earlier
register, else this one becomes the number's PIN). `data_localization_region` is only accepted while the
number is not registered on the Cloud API.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from onprem.emulator.backup import CorruptedBackup, WrongPassword, decrypt
from onprem.emulator.cloud import graph_errors as errors
from onprem.emulator.cloud.context import context_of, display_number, wa_digits
from onprem.emulator.cloud.params import messaging_product, params, text
from onprem.emulator.cloud.settings import PhoneNumber
from onprem.emulator.cloud.store import NumberState
from onprem.emulator.passwords import hash_password, verify_password

_PIN = re.compile(r"[0-9]{6}")
_REGION = re.compile(r"[A-Z]{2}")


def phone_object(number: PhoneNumber, state: NumberState) -> dict[str, Any]:
    """The phone number as `GET /{v}/{phone_number_id}` shows it."""
    found: dict[str, Any] = {
        "id": number.id,
        "display_phone_number": display_number(number),
        "verified_name": number.verified_name,
        "quality_rating": "GREEN",
        "platform_type": state.platform_type,
        "status": state.status,
        "code_verification_status": "VERIFIED",
        "account_mode": "LIVE",
    }
    if state.region is not None:
        found["data_localization_region"] = state.region
    return found


def _select(found: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return found
    wanted = {name.strip() for name in fields.split(",") if name.strip()}
    return {key: value for key, value in found.items() if key in wanted or key == "id"}


async def get_object(request: web.Request) -> web.Response:
    ctx = context_of(request)
    object_id = request.match_info["object_id"]
    ctx.grant(request)
    if object_id in ctx.numbers:
        number = ctx.phone(request, object_id)
        found = phone_object(number, ctx.store.number(number.id))
    elif object_id in ctx.wabas:
        ctx.waba(request, object_id)
        found = {"id": object_id, "name": "Emulated WhatsApp Business Account", "currency": "USD"}
    else:
        media = ctx.media(request, object_id)
        found = {
            "messaging_product": "whatsapp",
            "url": str(request.url.origin())
            + f"/whatsapp_business/attachments/?mid={media.id}&hash={media.sha256[:16]}",
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": media.size,
            "id": media.id,
        }
    return web.json_response(_select(found, request.query.get("fields")))


def _backup_payload(backup: Any) -> dict[str, Any]:
    """Decrypt `{data, password}` (an object, or its JSON text as a form parameter carries it). Raises
    GraphError 100 with the documented details."""
    if isinstance(backup, str):
        try:
            backup = json.loads(backup)
        except ValueError:
            raise errors.invalid_param("backup must be an object with data and password") from None
    if not isinstance(backup, dict):
        raise errors.invalid_param("backup must be an object with data and password")
    data, password = backup.get("data"), backup.get("password")
    if not isinstance(data, str) or not data:
        raise errors.missing_param("backup.data")
    if not isinstance(password, str) or not password:
        raise errors.missing_param("backup.password")
    try:
        return decrypt(password, data)
    except WrongPassword:
        raise errors.invalid_param("backup password is incorrect") from None
    except CorruptedBackup:
        raise errors.invalid_param("backup data is invalid") from None


def _backup_number(payload: dict[str, Any]) -> str:
    registration = payload.get("registration")
    if not isinstance(registration, dict):
        raise errors.invalid_param("backup data is invalid")
    return str(registration.get("cc", "")) + str(registration.get("phone_number", ""))


async def register(request: web.Request) -> web.Response:
    ctx = context_of(request)
    number = ctx.phone(request, request.match_info["object_id"], method="post")
    if "whatsapp_business_management" not in ctx.grant(request).permissions:
        raise errors.no_permission()
    found = await params(request)
    messaging_product(found)
    pin = text(found, "pin")
    if pin is None or not _PIN.fullmatch(pin):
        raise errors.invalid_param("The parameter pin must be 6 digits")
    region = text(found, "data_localization_region", required=False)
    if region is not None and (not _REGION.fullmatch(region) or region not in ctx.settings.regions):
        raise errors.invalid_param(
            f"data_localization_region {region!r} is not a supported country (ISO 3166 alpha-2)"
        )
    state = ctx.store.number(number.id)
    if state.registered and region is not None:
        raise errors.invalid_param(
            "data_localization_region can only be set while the phone number is not registered"
        )
    backup_pin: str | None = None
    if found.get("backup") is not None:
        payload = await asyncio.to_thread(_backup_payload, found["backup"])
        digits = _backup_number(payload)
        if digits != wa_digits(number):
            raise errors.invalid_param(f"backup is for +{digits}, not this phone number")
        two_step = payload.get("two_step")
        backup_pin = two_step if isinstance(two_step, str) else None
    known = backup_pin or state.pin_hash
    if known is not None and not await asyncio.to_thread(verify_password, pin, known):
        raise errors.pin_mismatch()
    if state.registered:
        return web.json_response({"success": True})  # the same register again: nothing to do
    pin_hash = known if known is not None else await asyncio.to_thread(hash_password, pin)
    await asyncio.sleep(ctx.settings.register_delay_seconds)
    ctx.store.put_number(
        NumberState(
            number.id,
            True,
            "CONNECTED",
            "CLOUD_API",
            region,
            pin_hash,
            backup_pin is not None or found.get("backup") is not None,
        ),
        now=ctx.clock(),
    )
    return web.json_response({"success": True})


async def deregister(request: web.Request) -> web.Response:
    ctx = context_of(request)
    number = ctx.phone(request, request.match_info["object_id"], method="post")
    if "whatsapp_business_management" not in ctx.grant(request).permissions:
        raise errors.no_permission()
    state = ctx.store.number(number.id)
    ctx.store.put_number(
        NumberState(
            number.id, False, "DISCONNECTED", "NOT_APPLICABLE", None, state.pin_hash, state.from_backup
        ),
        now=ctx.clock(),
    )
    return web.json_response({"success": True})


def add_routes(app: web.Application, version: str) -> None:
    app.router.add_get(f"/{version}/{{object_id:[0-9]+}}", get_object)
    app.router.add_post(f"/{version}/{{object_id:[0-9]+}}/register", register)
    app.router.add_post(f"/{version}/{{object_id:[0-9]+}}/deregister", deregister)
