"""Property tests: no input makes the parser or the verifier do anything but accept or reject cleanly."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from onprem.relay.payload import (
    check_cloud_shape,
    check_content_type,
    check_onprem_shape,
    decode_body,
    dedup_key,
    parse_object,
)
from onprem.relay.verify import Rejection, verify_hub_signature

SECRET = b"fuzz-secret"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)
onprem_like = st.dictionaries(
    st.sampled_from(["contacts", "messages", "statuses", "errors", "other"]),
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "status", "timestamp", "from", "type", "wa_id", "code", "title", "text"]),
            json_values,
            max_size=6,
        ),
        max_size=3,
    )
    | json_values,
    max_size=4,
)


def rejected(call: Callable[[], object]) -> Rejection | None:
    """The Rejection `call` raised, or None when it returned; any other exception propagates (a bug)."""
    try:
        call()
    except Rejection as rejection:
        return rejection
    return None


def pipeline(raw: bytes, content_type: str | None, encoding: str | None) -> None:
    """What the ingress runs on a body; only Rejection may escape."""
    check_content_type(content_type)
    body = decode_body(raw, encoding, 64 * 1024)
    doc = parse_object(body)
    rejected(lambda: check_onprem_shape(doc))
    rejected(lambda: check_cloud_shape(doc))
    dedup_key("onprem", doc)
    dedup_key("cloud", doc)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=512),
    content_type=st.none() | st.sampled_from(["application/json", "text/plain"]) | st.text(max_size=40),
    encoding=st.none() | st.sampled_from(["gzip", "identity", "br"]) | st.text(max_size=10),
)
def test_arbitrary_bytes_and_headers_are_accepted_or_rejected_never_crash(
    raw: bytes, content_type: str | None, encoding: str | None
) -> None:
    rejection = rejected(lambda: pipeline(raw, content_type, encoding))
    assert rejection is None or 400 <= rejection.status < 500


@settings(max_examples=300, deadline=None)
@given(doc=onprem_like, compress=st.booleans())
def test_json_shaped_like_callbacks_is_accepted_or_rejected_never_crash(
    doc: dict[str, object], compress: bool
) -> None:
    raw = json.dumps(doc).encode()
    body = gzip.compress(raw) if compress else raw
    rejection = rejected(lambda: pipeline(body, "application/json", "gzip" if compress else None))
    assert rejection is None or rejection.status in (400, 413, 422)


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=256),
    sha256=st.none() | st.text(max_size=80),
    sha1=st.none() | st.text(max_size=60),
    allow=st.booleans(),
)
def test_random_signatures_never_verify_and_never_crash(
    body: bytes, sha256: str | None, sha1: str | None, allow: bool
) -> None:
    rejection = rejected(lambda: verify_hub_signature(SECRET, body, sha256, sha1, allow_sha1=allow))
    assert rejection is not None, "a random signature verified"
    assert rejection.status in (401, 403)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), flip=st.integers(min_value=0, max_value=255))
def test_a_correct_signature_verifies_and_any_flipped_bit_of_it_does_not(body: bytes, flip: int) -> None:
    digest = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert verify_hub_signature(SECRET, body, f"sha256={digest}", None, allow_sha1=False) == "sha256"
    position = flip % 64
    replacement = "0" if digest[position] != "0" else "1"
    tampered = digest[:position] + replacement + digest[position + 1 :]
    rejection = rejected(
        lambda: verify_hub_signature(SECRET, body, f"sha256={tampered}", None, allow_sha1=False)
    )
    assert rejection is not None, "a tampered signature verified"
    assert rejection.reason == "signature_mismatch"
