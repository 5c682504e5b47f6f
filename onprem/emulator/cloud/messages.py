"""`POST /{v}/{phone_number_id}/messages` and the test-only inbound injection.

Every documented message type is accepted after basic validation of its object and answered with a
wamid; then status webhooks follow (`sent`, `delivered`, `read`), or a `failed` status with 131047 for
a free-form message outside the user's 24-hour window (templates may always be sent). An inbound
message (`POST /__emulator/inbound`) emits a `messages` webhook and opens the window.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from aiohttp import web

from onprem.emulator.cloud import graph_errors as errors
from onprem.emulator.cloud import webhooks
from onprem.emulator.cloud.context import CloudContext, context_of, wa_digits
from onprem.emulator.cloud.params import messaging_product, params, text
from onprem.emulator.cloud.settings import PhoneNumber
from onprem.emulator.cloud.store import EventRow

WINDOW_SECONDS = 24 * 3600.0
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
TYPES = ("text", "template", "location", "contacts", "interactive", "reaction", *MEDIA_TYPES)
INTERACTIVE = ("button", "list", "cta_url", "product", "product_list", "flow", "location_request_message")
_DIGITS = re.compile(r"[0-9]{5,15}")


def missing(name: str) -> errors.GraphError:
    return errors.GraphError(
        400, 131008, "(#131008) Required parameter is missing", f"Required parameter {name} is missing"
    )


def _need(obj: dict[str, Any], key: str, where: str) -> Any:
    value = obj.get(key)
    if value is None or value == "" or value == []:
        raise missing(f"{where}['{key}']")
    return value


def validate(kind: str, obj: Any) -> None:
    """Basic validation of a message's type object. Raises GraphError (131008 missing, 100 invalid)."""
    if kind == "contacts":
        if (
            not isinstance(obj, list)
            or not obj
            or not all(isinstance(c, dict) and c.get("name") for c in obj)
        ):
            raise missing("contacts[0]['name']")
        return
    if not isinstance(obj, dict):
        raise missing(kind)
    if kind == "text":
        body = _need(obj, "body", "text")
        if not isinstance(body, str) or len(body) > 4096:
            raise errors.invalid_param("text['body'] must be a string of at most 4096 characters")
    elif kind == "template":
        _need(obj, "name", "template")
        language = _need(obj, "language", "template")
        if not isinstance(language, dict) or not language.get("code"):
            raise missing("template['language']['code']")
        components = obj.get("components", [])
        if not isinstance(components, list) or not all(
            isinstance(c, dict) and isinstance(c.get("type"), str) for c in components
        ):
            raise errors.invalid_param("template['components'] must be a list of objects with a type")
    elif kind in MEDIA_TYPES:
        if not obj.get("id") and not obj.get("link"):
            raise missing(f"{kind}['id'] or {kind}['link']")
    elif kind == "location":
        for key in ("latitude", "longitude"):
            value = _need(obj, key, "location")
            try:
                float(value)
            except (TypeError, ValueError):
                raise errors.invalid_param(f"location['{key}'] must be a number") from None
    elif kind == "interactive":
        if _need(obj, "type", "interactive") not in INTERACTIVE:
            raise errors.invalid_param(f"interactive['type'] must be one of {', '.join(INTERACTIVE)}")
        if obj["type"] != "location_request_message" or "action" in obj:
            _need(obj, "action", "interactive")
    elif kind == "reaction":
        _need(obj, "message_id", "reaction")
        if "emoji" not in obj:
            raise missing("reaction['emoji']")


def new_wamid(wa_id: str) -> str:
    """A wamid shaped like Meta's: `wamid.` and base64 of the recipient and random bytes."""
    raw = b"\x1c\x18\x0b" + wa_id.encode("ascii") + b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)
    return "wamid." + base64.b64encode(raw).decode("ascii")


def _status_events(
    number: PhoneNumber, wamid: str, recipient: str, *, failed: bool, category: str, now: float
) -> list[EventRow]:
    conversation = secrets.token_hex(16)
    states = ["failed"] if failed else ["sent", "delivered", "read"]
    rows: list[EventRow] = []
    for state in states:
        payload = webhooks.status(
            number.waba_id,
            wa_digits(number),
            number.id,
            wamid=wamid,
            state=state,
            recipient=recipient,
            timestamp=int(now),
            conversation_id=conversation,
            category=category,
            errors=[errors.RE_ENGAGEMENT] if failed else None,
        )
        rows.append((number.waba_id, number.id, f"status:{state}", webhooks.serialize(payload)))
    return rows


def _registered(ctx: CloudContext, number: PhoneNumber) -> None:
    if not ctx.store.number(number.id).registered:
        raise errors.not_registered()


async def send(request: web.Request) -> web.Response:
    ctx = context_of(request)
    number = ctx.phone(request, request.match_info["object_id"], method="post")
    if "whatsapp_business_messaging" not in ctx.grant(request).permissions:
        raise errors.no_permission()
    found = await params(request)
    messaging_product(found)
    recipient_type = found.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise errors.invalid_param("recipient_type must be individual")
    to = text(found, "to")
    assert to is not None
    wa_id = re.sub(r"[^0-9]", "", to)
    if not _DIGITS.fullmatch(wa_id):
        raise errors.invalid_param("to must be a phone number or wa_id")
    kind = found.get("type", "text")
    if kind not in TYPES:
        raise errors.invalid_param(f"type must be one of {', '.join(TYPES)}")
    validate(kind, found.get(kind))
    _registered(ctx, number)
    now = ctx.clock()
    last = ctx.store.last_inbound(number.id, wa_id)
    in_window = last is not None and now - last < WINDOW_SECONDS
    failed = kind != "template" and not in_window
    wamid = new_wamid(wa_id)
    category = "utility" if kind == "template" else "service"
    events = _status_events(number, wamid, wa_id, failed=failed, category=category, now=now)
    ctx.store.add_message(
        wamid, number.id, "out", wa_id, kind, found, "failed" if failed else "read", now=now, events=events
    )
    ctx.deliverer.notify()
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [{"id": wamid}],
        }
    )


async def inbound(request: web.Request) -> web.Response:
    """Test-only: a user writes to the number (`{phone_number_id, from, text, name}`)."""
    ctx = context_of(request)
    ctx.grant(request)
    found = await params(request)
    number_id = text(found, "phone_number_id")
    assert number_id is not None
    number = ctx.phone(request, number_id, method="post")
    sender = re.sub(r"[^0-9]", "", text(found, "from") or "")
    if not _DIGITS.fullmatch(sender):
        raise errors.invalid_param("from must be the user's wa_id (digits)")
    body = text(found, "text")
    assert body is not None
    name = text(found, "name", required=False) or sender
    _registered(ctx, number)
    now = ctx.clock()
    wamid = new_wamid(sender)
    payload = webhooks.inbound_text(
        number.waba_id,
        wa_digits(number),
        number.id,
        wa_id=sender,
        name=name,
        wamid=wamid,
        text=body,
        timestamp=int(now),
    )
    event: EventRow = (number.waba_id, number.id, "message", webhooks.serialize(payload))
    ctx.store.add_message(
        wamid,
        number.id,
        "in",
        sender,
        "text",
        {"text": {"body": body}, "name": name},
        "received",
        now=now,
        events=[event],
    )
    ctx.deliverer.notify()
    return web.json_response({"id": wamid})


def add_routes(app: web.Application, version: str) -> None:
    app.router.add_post(f"/{version}/{{object_id:[0-9]+}}/messages", send)
    app.router.add_post("/__emulator/inbound", inbound)
