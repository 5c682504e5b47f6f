"""Standard Webhooks signatures: the spec's example, rotation by a list of secrets, verification."""

from __future__ import annotations

import base64

import pytest

from onprem.relay.signing import parse_secrets, sign_headers, signature, verify_headers

# The example of the Standard Webhooks specification (standard-webhooks/standard-webhooks, spec/).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_example_signs_to_the_published_signature() -> None:
    (key,) = parse_secrets(SPEC_SECRET)
    assert signature(key, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    keys = parse_secrets(f"{SPEC_SECRET} {new}")
    headers = sign_headers(keys, SPEC_ID, SPEC_TS, SPEC_BODY)
    assert headers["webhook-id"] == SPEC_ID
    assert headers["webhook-timestamp"] == str(SPEC_TS)
    assert headers["webhook-signature"].split()[0] == SPEC_SIGNATURE
    assert len(headers["webhook-signature"].split()) == 2
    assert verify_headers(parse_secrets(new), headers, SPEC_BODY, now=SPEC_TS)
    assert verify_headers(parse_secrets(SPEC_SECRET), headers, SPEC_BODY, now=SPEC_TS)


def test_verification_fails_on_another_body_secret_or_a_stale_timestamp() -> None:
    keys = parse_secrets(SPEC_SECRET)
    headers = sign_headers(keys, SPEC_ID, SPEC_TS, SPEC_BODY)
    assert not verify_headers(keys, headers, SPEC_BODY + b" ", now=SPEC_TS)
    assert not verify_headers(
        parse_secrets("whsec_" + base64.b64encode(b"x" * 32).decode()), headers, SPEC_BODY, now=SPEC_TS
    )
    assert not verify_headers(keys, headers, SPEC_BODY, now=SPEC_TS + 301)


@pytest.mark.parametrize(
    "text",
    ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode()],
)
def test_malformed_secrets_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        parse_secrets(text)
