"""X-Hub-Signature(-256) verification against the published vectors, and every way a signature is bad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from onprem.relay.verify import Rejection, hub_signature, verify_hub_signature, verify_subscription

BODY = b'{"object":"whatsapp_business_account","entry":[]}'
SECRET = b"app-secret"


def vectors(reference: Path) -> list[dict[str, Any]]:
    return list(json.loads((reference / "hmac-vectors.json").read_text()))


def test_every_reference_vector_signs_and_verifies(reference: Path) -> None:
    cases = vectors(reference)
    assert len(cases) >= 6
    for case in cases:
        secret, body = case["secret"].encode(), case["body_utf8"].encode()
        algorithm = "sha256" if case["header_name"] == "X-Hub-Signature-256" else "sha1"
        assert hub_signature(secret, body, algorithm) == case["expected_header"], case["id"]
        if algorithm == "sha256":
            assert (
                verify_hub_signature(secret, body, case["expected_header"], None, allow_sha1=False)
                == "sha256"
            )
        else:
            assert (
                verify_hub_signature(secret, body, None, case["expected_header"], allow_sha1=True) == "sha1"
            )


def test_a_vector_with_one_flipped_body_byte_is_a_mismatch(reference: Path) -> None:
    for case in vectors(reference):
        if case["header_name"] != "X-Hub-Signature-256":
            continue
        body = case["body_utf8"].encode()
        tampered = bytes([body[0] ^ 1]) + body[1:]
        with pytest.raises(Rejection) as caught:
            verify_hub_signature(
                case["secret"].encode(), tampered, case["expected_header"], None, allow_sha1=False
            )
        assert (caught.value.status, caught.value.reason) == (403, "signature_mismatch")


GOOD = hub_signature(SECRET, BODY)


@pytest.mark.parametrize(
    ("sha256", "sha1", "allow_sha1", "status", "reason"),
    [
        (None, None, False, 401, "signature_missing"),
        (None, None, True, 401, "signature_missing"),
        (GOOD.upper(), None, False, 403, "signature_malformed"),
        ("sha256=" + GOOD[7:].upper(), None, False, 403, "signature_malformed"),
        (GOOD[:-1], None, False, 403, "signature_malformed"),
        (GOOD + "0", None, False, 403, "signature_malformed"),
        (GOOD[7:], None, False, 403, "signature_malformed"),
        ("", None, False, 403, "signature_malformed"),
        (hub_signature(SECRET, BODY, "sha1"), None, True, 403, "signature_wrong_algorithm"),
        (hub_signature(b"other", BODY), None, False, 403, "signature_mismatch"),
        (None, hub_signature(SECRET, BODY, "sha1"), False, 403, "signature_sha1_not_allowed"),
        (None, hub_signature(b"other", BODY, "sha1"), True, 403, "signature_mismatch"),
        (None, hub_signature(SECRET, BODY, "sha1").upper(), True, 403, "signature_malformed"),
    ],
)
def test_bad_signatures_are_rejected_with_their_reason(
    sha256: str | None, sha1: str | None, allow_sha1: bool, status: int, reason: str
) -> None:
    with pytest.raises(Rejection) as caught:
        verify_hub_signature(SECRET, BODY, sha256, sha1, allow_sha1=allow_sha1)
    assert (caught.value.status, caught.value.reason) == (status, reason)


def test_sha256_wins_over_a_valid_legacy_header() -> None:
    bad256 = hub_signature(b"other", BODY)
    with pytest.raises(Rejection, match="signature_mismatch"):
        verify_hub_signature(SECRET, BODY, bad256, hub_signature(SECRET, BODY, "sha1"), allow_sha1=True)


def test_subscription_echoes_the_challenge_only_for_the_right_token() -> None:
    assert verify_subscription("tok", "subscribe", "tok", "1158201444") == "1158201444"
    with pytest.raises(Rejection, match="verify_token_mismatch"):
        verify_subscription("tok", "subscribe", "tOk", "1")
    with pytest.raises(Rejection, match="subscription_malformed"):
        verify_subscription("tok", "unsubscribe", "tok", "1")
    with pytest.raises(Rejection, match="subscription_malformed"):
        verify_subscription("tok", "subscribe", "tok", None)
