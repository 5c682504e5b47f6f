"""Authentication of incoming webhooks (pure): Meta's X-Hub-Signature(-256), verify and path tokens.

Every comparison of a secret-derived value is constant-time (`hmac.compare_digest`). Signatures are
checked over the body bytes exactly as received, never over re-serialised JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SHA256_HEADER = "X-Hub-Signature-256"
SHA1_HEADER = "X-Hub-Signature"
# Meta and GitHub send lowercase hex; anything else (uppercase, short, padded) is malformed, not "close".
_SHA256 = re.compile(r"sha256=([0-9a-f]{64})")
_SHA1 = re.compile(r"sha1=([0-9a-f]{40})")


class Rejection(Exception):
    """A request the relay refuses: an HTTP 4xx status and a short reason (the metrics label)."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        self.status = status
        self.reason = reason
        self.detail = detail or reason.replace("_", " ")
        super().__init__(f"{status} {reason}")


def hub_signature(secret: bytes, body: bytes, algorithm: str = "sha256") -> str:
    """The header value Meta would send for `body`: `sha256=<hex>` (or `sha1=<hex>`)."""
    digest = hmac.new(secret, body, hashlib.sha256 if algorithm == "sha256" else hashlib.sha1).hexdigest()
    return f"{algorithm}={digest}"


def verify_hub_signature(
    secret: bytes, body: bytes, sha256_header: str | None, sha1_header: str | None, *, allow_sha1: bool
) -> str:
    """Check the body's signature; returns the algorithm that matched ("sha256" or "sha1").

    X-Hub-Signature-256 is required unless `allow_sha1`, in which case X-Hub-Signature is used when the
    SHA-256 header is absent. Raises Rejection (401 missing, 403 malformed or mismatched).
    """
    if sha256_header is not None:
        match = _SHA256.fullmatch(sha256_header.strip())
        if match is None:
            reason = (
                "signature_wrong_algorithm"
                if sha256_header.strip().startswith("sha1=")
                else "signature_malformed"
            )
            raise Rejection(403, reason)
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match[1]):
            raise Rejection(403, "signature_mismatch")
        return "sha256"
    if sha1_header is not None:
        if not allow_sha1:
            raise Rejection(403, "signature_sha1_not_allowed", f"{SHA256_HEADER} is required")
        match = _SHA1.fullmatch(sha1_header.strip())
        if match is None:
            raise Rejection(403, "signature_malformed")
        expected = hmac.new(secret, body, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(expected, match[1]):
            raise Rejection(403, "signature_mismatch")
        return "sha1"
    raise Rejection(401, "signature_missing", f"{SHA256_HEADER} is required")


def tokens_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of two tokens (their lengths may leak, their contents don't)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogateescape"))


def verify_subscription(
    expected_token: str, mode: str | None, token: str | None, challenge: str | None
) -> str:
    """Answer Meta's `GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`: returns the challenge.

    Raises Rejection (400 when a parameter is missing, 403 when the token is wrong).
    """
    if mode != "subscribe" or token is None or not challenge:
        raise Rejection(400, "subscription_malformed")
    if len(challenge) > 256:
        raise Rejection(400, "subscription_malformed")
    if not tokens_equal(expected_token, token):
        raise Rejection(403, "verify_token_mismatch")
    return challenge
