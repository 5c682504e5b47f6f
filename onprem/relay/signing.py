"""Standard Webhooks signing of forwarded events (pure), and the matching verification for receivers.

Spec (standardwebhooks.com): headers `webhook-id`, `webhook-timestamp` (unix seconds) and
`webhook-signature`: space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret,
so a receiver can rotate its secret by accepting either while both are configured. Secrets are
`whsec_<base64 key>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


def parse_secrets(text: str) -> list[bytes]:
    """Keys of a space-separated list of `whsec_<base64>` secrets. Raises ValueError when malformed."""
    keys = []
    for item in text.split():
        if not item.startswith(PREFIX):
            raise ValueError("each signing secret must start with whsec_")
        try:
            key = base64.b64decode(item[len(PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("a signing secret is not valid base64 after whsec_") from None
        if len(key) < 16:
            raise ValueError("a signing secret must hold at least 16 bytes")
        keys.append(key)
    if not keys:
        raise ValueError("no signing secret given")
    return keys


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `body` under `key`."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def sign_headers(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt (one signature per key)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, msg_id, timestamp, body) for key in keys),
    }


def verify_headers(
    keys: list[bytes], headers: dict[str, str], body: bytes, *, now: float, tolerance: float = 300.0
) -> bool:
    """True when any `v1` signature in the headers matches any key and the timestamp is within tolerance."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    expected = [signature(key, msg_id, int(stamp), body) for key in keys]
    return any(hmac.compare_digest(want, got) for want in expected for got in signatures.split())
