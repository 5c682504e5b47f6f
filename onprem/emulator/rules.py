"""WhatsApp's messaging rules as the emulator applies them (pure functions).

- `check_message` validates a `POST /v1/messages` body: text (<= 4096 characters, error 1001),
  `template` (components/parameters) and legacy `hsm` (localizable_params), checked against the
  emulator's template catalogue: an unknown template is 2001, a wrong number of `{{n}}` parameters 2000;
  media by id or link, location, contacts and interactive (list, button) objects as msgtypes.py checks.
- Free-form messages need the 24-hour window; outside it the message is accepted (201) and then fails
  with error 470, as the real client reports it in a `failed` status callback.
- `status_payload` / `inbound_payload` build the On-Prem (flat) callback bodies, timestamps as strings.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onprem.emulator.envelope import INVALID_PARAMETER, MISSING_PARAMETER, ApiFailure
from onprem.emulator.msgtypes import (
    MEDIA_KINDS,
    check_contacts,
    check_interactive,
    check_location,
    check_media,
    template_body_parameters,
)

MAX_TEXT = 4096
TOO_LONG = (1001, "Message too long")
BAD_USER = (1021, "Bad User")
PARAM_COUNT_MISMATCH = (2000, "Number of parameters does not match the expected number of params")
TEMPLATE_MISSING = (2001, "Template name does not exist in the translation")
OUTSIDE_WINDOW = {
    "code": 470,
    "title": "Failed to send message because you are outside the support window for freeform messages to "
    "this user. Please use a valid HSM notification or reconsider.",
}
# The emulator's approved templates (name -> body); any namespace and language is accepted.
TEMPLATES: dict[str, str] = {
    "hello_world": "Hello World",
    "sample_shipping_confirmation": "Your package has been shipped. It will be delivered in {{1}} business"
    " days.",
    "sample_issue_resolution": "Hi {{1}}, were we able to solve the issue that you were facing?",
    "sample_flight_confirmation": "This is your flight confirmation for {{1}}-{{2}} on {{3}}.",
}
_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
_PHONE_NOISE = re.compile(r"[\s()+.-]")

# The other free-form message types and their checks (msgtypes.py).
OTHER_KINDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "location": check_location,
    "contacts": check_contacts,
    "interactive": check_interactive,
}


@dataclass(frozen=True)
class Outbound:
    """A valid outbound message: its recipient, whether it is free-form (needs the window) and the
    uploaded media id it refers to, if any."""

    recipient: str
    free_form: bool
    media_id: str | None = None


def wa_id_of(raw: object) -> str:
    """The digits of a phone number or wa_id (`+1 631-555 1001` -> `16315551001`); "" if invalid."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return ""
    digits = _PHONE_NOISE.sub("", raw)
    return digits if digits.isdigit() and 5 <= len(digits) <= 18 else ""


def expected_params(template: str) -> int:
    """How many numbered parameters a template body takes (its highest `{{n}}`)."""
    return max((int(n) for n in _PLACEHOLDER.findall(template)), default=0)


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        raise ApiFailure(400, MISSING_PARAMETER, f"{name} is required for type {name}.")
    if not isinstance(value, dict):
        raise ApiFailure(400, INVALID_PARAMETER, f"{name} must be an object.")
    return value


def _check_template(name: object, given: int) -> None:
    if not isinstance(name, str) or not name:
        raise ApiFailure(400, MISSING_PARAMETER, "The template name is required.")
    if name not in TEMPLATES:
        raise ApiFailure(404, TEMPLATE_MISSING, f"Unknown template {name!r}; known: {sorted(TEMPLATES)}.")
    wanted = expected_params(TEMPLATES[name])
    if given != wanted:
        raise ApiFailure(
            400, PARAM_COUNT_MISMATCH, f"Template {name!r} takes {wanted} parameters, got {given}."
        )


def check_message(body: dict[str, Any], *, own_wa_id: str) -> Outbound:
    """Validate a `POST /v1/messages` body. Raises ApiFailure with the documented code."""
    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise ApiFailure(400, (1002, "Invalid recipient type"), "recipient_type must be individual.")
    if body.get("to") in (None, ""):
        raise ApiFailure(400, MISSING_PARAMETER, "to is required.")
    recipient = wa_id_of(body.get("to"))
    if not recipient:
        raise ApiFailure(400, INVALID_PARAMETER, "to must be a phone number or wa_id.")
    if recipient == own_wa_id:
        raise ApiFailure(400, BAD_USER, "The recipient is the sender.")
    kind = body.get("type", "text")
    if kind == "text":
        text = _object(body, "text").get("body")
        if not isinstance(text, str) or not text:
            raise ApiFailure(400, MISSING_PARAMETER, "text.body is required.")
        if len(text) > MAX_TEXT:
            raise ApiFailure(400, TOO_LONG, f"text.body is longer than {MAX_TEXT} characters.")
        return Outbound(recipient, free_form=True)
    if kind == "template":
        template = _object(body, "template")
        _check_template(template.get("name"), template_body_parameters(template))
        return Outbound(recipient, free_form=False)
    if kind == "hsm":
        hsm = _object(body, "hsm")
        params = hsm.get("localizable_params", [])
        if not isinstance(params, list):
            raise ApiFailure(400, INVALID_PARAMETER, "hsm.localizable_params must be a list.")
        _check_template(hsm.get("element_name"), len(params))
        return Outbound(recipient, free_form=False)
    if kind in MEDIA_KINDS:
        return Outbound(recipient, free_form=True, media_id=check_media(body, kind))
    if kind in OTHER_KINDS:
        OTHER_KINDS[kind](body)
        return Outbound(recipient, free_form=True)
    known = ", ".join(("text", "template", "hsm", *MEDIA_KINDS, *OTHER_KINDS))
    raise ApiFailure(400, INVALID_PARAMETER, f"Message type {kind!r} is not one of {known}.")


# Outbound progression: status -> (next status, whether settings.webhooks.message.<next> may announce it).
NEXT_STATUS = {"accepted": "sent", "sent": "delivered", "delivered": "read", "rejected": "failed"}
TERMINAL = ("read", "failed")


def notify(status: str, settings: dict[str, Any]) -> bool:
    """Whether a `status` callback is wanted under the application settings."""
    if status == "failed":
        return True
    message = settings.get("webhooks", {}).get("message", {})
    if status == "sent":
        return bool(message.get("sent") or settings.get("sent_status"))
    return bool(message.get(status))


def status_payload(message_id: str, recipient: str, status: str, now: float) -> dict[str, Any]:
    """The `{"statuses":[...]}` callback body for one status change."""
    entry: dict[str, Any] = {
        "id": message_id,
        "recipient_id": recipient,
        "status": status,
        "timestamp": str(int(now)),
    }
    if status == "failed":
        entry["errors"] = [dict(OUTSIDE_WINDOW)]
    elif status in ("sent", "delivered"):
        entry["conversation"] = {"id": f"conv-{recipient}"}
        entry["pricing"] = {"pricing_model": "CBP", "billable": True}
    return {"statuses": [entry]}


def inbound_payload(message_id: str, sender: str, name: str, text: str, now: float) -> dict[str, Any]:
    """The `{"contacts":[...],"messages":[...]}` callback body of an inbound text message."""
    return {
        "contacts": [{"profile": {"name": name}, "wa_id": sender}],
        "messages": [
            {
                "from": sender,
                "id": message_id,
                "timestamp": str(int(now)),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def new_message_id() -> str:
    """A message id shaped like the client's (`gBEGkYiEB1VXAglK1ZEqA1YKPrU`)."""
    return "gBEG" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
