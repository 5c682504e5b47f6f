"""Decoding and checking of webhook bodies (pure): content type, gzip, JSON, shape, de-duplication key.

The relay forwards the bytes it received (after gzip decoding), so parsing here only decides whether a
body is acceptable and which message/status ids it carries; it never re-serialises anything.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from onprem.relay.verify import Rejection

ONPREM_KEYS = ("contacts", "messages", "statuses", "errors")
# Documented message types, each of which carries an object under its own name (On-Prem webhook docs);
# a `contacts` message carries a list of contact cards.
TYPED_MESSAGES = frozenset(
    {
        "audio",
        "button",
        "contacts",
        "document",
        "image",
        "interactive",
        "location",
        "sticker",
        "system",
        "text",
        "video",
        "voice",
    }
)
MESSAGE_TYPES = TYPED_MESSAGES | {"unknown"}
STATUSES = frozenset({"sent", "delivered", "read", "failed", "deleted"})


def check_content_type(content_type: str | None) -> None:
    """Accept `application/json` with no charset or charset=utf-8. Raises Rejection 415."""
    if content_type is None:
        raise Rejection(415, "content_type", "Content-Type must be application/json")
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "application/json":
        raise Rejection(415, "content_type", "Content-Type must be application/json")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Rejection(415, "content_type", "charset must be utf-8")


def decode_body(raw: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The entity body: `raw` itself, or gunzipped when Content-Encoding is gzip (bounded by `max_bytes`).

    Raises Rejection: 415 for other encodings, 400 for a corrupt gzip stream, 413 when it inflates
    beyond `max_bytes` (a compression bomb stops there, it is never inflated whole).
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise Rejection(415, "content_encoding", "only gzip or identity Content-Encoding")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, max_bytes + 1)
        if len(body) > max_bytes:
            raise Rejection(413, "body_too_large")
        body += inflater.flush()
    except zlib.error:
        raise Rejection(400, "bad_gzip") from None
    if len(body) > max_bytes:
        raise Rejection(413, "body_too_large")
    if not inflater.eof or inflater.unused_data:
        raise Rejection(400, "bad_gzip")
    return body


def parse_object(body: bytes) -> dict[str, Any]:
    """Parse a UTF-8 JSON object. Raises Rejection 400 for anything else (bad UTF-8, bad JSON, non-object)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Rejection(400, "invalid_json") from None
    if not isinstance(doc, dict):
        raise Rejection(400, "invalid_json", "the body must be a JSON object")
    return doc


def _objects(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Rejection(422, "bad_shape", f"{key} must be a list of objects")
    return value


def _strings(item: dict[str, Any], *names: str) -> bool:
    return all(isinstance(item.get(name), str) for name in names)


def check_onprem_shape(doc: dict[str, Any]) -> None:
    """Check the On-Prem flat shape (contacts/messages/statuses/errors). Raises Rejection 422."""
    if not any(key in doc for key in ONPREM_KEYS):
        raise Rejection(422, "bad_shape", "none of contacts, messages, statuses, errors")
    if not all(_strings(c, "wa_id") for c in _objects(doc, "contacts")):
        raise Rejection(422, "bad_shape", "a contact lacks wa_id")
    for message in _objects(doc, "messages"):
        kind = message.get("type")
        if not _strings(message, "id", "from", "timestamp") or kind not in MESSAGE_TYPES:
            raise Rejection(422, "bad_shape", "a message lacks id, from, timestamp or a known type")
        if kind in TYPED_MESSAGES and not isinstance(message.get(kind), list if kind == "contacts" else dict):
            raise Rejection(422, "bad_shape", f"a {kind} message lacks its {kind} object")
    for status in _objects(doc, "statuses"):
        if not _strings(status, "id", "timestamp") or status.get("status") not in STATUSES:
            raise Rejection(422, "bad_shape", "a status lacks id, timestamp or a known status")
    for error in _objects(doc, "errors"):
        if not isinstance(error.get("code"), int | float) or not _strings(error, "title"):
            raise Rejection(422, "bad_shape", "an error lacks code or title")


def check_cloud_shape(doc: dict[str, Any]) -> None:
    """Check the Cloud API envelope (`object` and a list of `entry`). Raises Rejection 422."""
    if not isinstance(doc.get("object"), str) or not isinstance(doc.get("entry"), list):
        raise Rejection(422, "bad_shape", "object and entry are required")


def _list(value: Any) -> list[Any]:
    # Bodies reach dedup_key unvalidated when shape checks are off: tolerate any JSON in any place.
    return value if isinstance(value, list) else []


def _cloud_values(doc: dict[str, Any]) -> list[dict[str, Any]]:
    values = []
    for entry in _list(doc.get("entry")):
        for change in _list(entry.get("changes")) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict):
                values.append(value)
    return values


def dedup_key(source: str, doc: dict[str, Any]) -> str | None:
    """A key naming the messages and status changes a body carries, or None when it has none.

    Two bodies with the same key describe the same events (a sender's retry); a status id alone is not
    enough, as one message goes through sent, delivered and read under the same id.
    """
    values = [doc] if source == "onprem" else _cloud_values(doc)
    ids = []
    for value in values:
        for message in _list(value.get("messages")):
            if isinstance(message, dict) and isinstance(message.get("id"), str):
                ids.append(f"m:{message['id']}")
        for status in _list(value.get("statuses")):
            if isinstance(status, dict) and isinstance(status.get("id"), str):
                ids.append(f"s:{status['id']}:{status.get('status')}")
    if not ids:
        return None
    return f"{source}:" + hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
