"""Outbound webhooks as Meta sends them (pure): the payload shapes, the bytes, the signature and the
retry schedule.

Bodies are serialized once, like Meta's: compact JSON with every non-ASCII character `\\uXXXX`-escaped;
`X-Hub-Signature-256` is the HMAC-SHA256 of those exact bytes under the app secret (and, as Meta still
does, `X-Hub-Signature` the HMAC-SHA1), and every retry sends the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"
LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"  # SHA-1; Meta still sends it beside the SHA-256 one


def serialize(payload: dict[str, Any]) -> bytes:
    """The body bytes Meta would send: compact, non-ASCII escaped (so the bytes are pure ASCII)."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value: `sha256=<lowercase hex HMAC-SHA256(secret, body)>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def legacy_signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature` value: `sha1=<lowercase hex HMAC-SHA1(secret, body)>`."""
    return "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()


def envelope(waba_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """The `whatsapp_business_account` object around one `messages` change."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def _value(display_phone_number: str, phone_number_id: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
    }


def inbound_text(
    waba_id: str,
    display_phone_number: str,
    phone_number_id: str,
    *,
    wa_id: str,
    name: str,
    wamid: str,
    text: str,
    timestamp: int,
) -> dict[str, Any]:
    """A user's text message (the shape of payloads/cloud/pywa_message__text.json)."""
    value = _value(display_phone_number, phone_number_id)
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    value["messages"] = [
        {"from": wa_id, "id": wamid, "timestamp": str(timestamp), "text": {"body": text}, "type": "text"}
    ]
    return envelope(waba_id, value)


def status(
    waba_id: str,
    display_phone_number: str,
    phone_number_id: str,
    *,
    wamid: str,
    state: str,
    recipient: str,
    timestamp: int,
    conversation_id: str,
    category: str,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A status of an outbound message (payloads/cloud/pywa_message_status__*.json): `sent`,
    `delivered` and `read` carry the conversation and pricing; `failed` carries `errors`."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
    }
    if errors:
        entry["errors"] = errors
    else:
        entry["conversation"] = {"id": conversation_id, "origin": {"type": category}}
        if state == "sent":
            entry["conversation"]["expiration_timestamp"] = str(timestamp + 86400)
        entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": category}
    value = _value(display_phone_number, phone_number_id)
    value["statuses"] = [entry]
    return envelope(waba_id, value)


def retry_delay(attempts: int, *, first: float, factor: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1-based): exponential from `first`, capped."""
    if attempts < 1:
        raise ValueError("attempts counts failed attempts, from 1")
    return float(min(cap, first * factor ** (attempts - 1)))


def next_attempt(
    attempts: int, now: float, created_at: float, *, first: float, factor: float, cap: float, max_age: float
) -> float | None:
    """When to try again after the `attempts`-th failure at `now`, or None when the event has been
    retried for `max_age` since it was emitted (Meta gives up after 7 days)."""
    when = now + retry_delay(attempts, first=first, factor=factor, cap=cap)
    return None if when - created_at > max_age else when
