"""Body decoding and checks: content type, gzip (bounded), JSON, the On-Prem and Cloud shapes, dedup keys."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from onprem.relay.payload import (
    check_cloud_shape,
    check_content_type,
    check_onprem_shape,
    decode_body,
    dedup_key,
    parse_object,
)
from onprem.relay.verify import Rejection


def reason(call: object) -> tuple[int, str]:
    with pytest.raises(Rejection) as caught:
        call()  # type: ignore[operator]
    return caught.value.status, caught.value.reason


@pytest.mark.parametrize(
    "value", ["application/json", "Application/JSON; charset=UTF-8", 'application/json;charset="utf-8"']
)
def test_json_content_types_are_accepted(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize(
    "value", [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]
)
def test_other_content_types_are_415(value: str | None) -> None:
    assert reason(lambda: check_content_type(value)) == (415, "content_type")


def test_gzip_bodies_are_inflated_and_identity_passes_through() -> None:
    assert decode_body(gzip.compress(b'{"a":1}'), "gzip", 1024) == b'{"a":1}'
    assert decode_body(b'{"a":1}', None, 1024) == b'{"a":1}'
    assert decode_body(b'{"a":1}', "identity", 1024) == b'{"a":1}'


def test_a_gzip_bomb_stops_at_the_limit_and_corrupt_gzip_is_400() -> None:
    bomb = gzip.compress(b"0" * 10_000_000)
    assert len(bomb) < 20_000
    assert reason(lambda: decode_body(bomb, "gzip", 1024 * 1024)) == (413, "body_too_large")
    assert reason(lambda: decode_body(b"not gzip", "gzip", 1024)) == (400, "bad_gzip")
    assert reason(lambda: decode_body(gzip.compress(b"{}")[:-4], "gzip", 1024)) == (400, "bad_gzip")
    assert reason(lambda: decode_body(gzip.compress(b"{}") + b"junk", "gzip", 1024)) == (400, "bad_gzip")
    assert reason(lambda: decode_body(b"{}", "br", 1024)) == (415, "content_encoding")


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"x"', b"\xff\xfe{}", b'{"a":1}{', b"null"])
def test_invalid_json_or_non_objects_are_400(body: bytes) -> None:
    assert reason(lambda: parse_object(body)) == (400, "invalid_json")


def test_every_valid_onprem_payload_passes_and_every_invalid_one_is_422(reference: Path) -> None:
    directory = reference / "payloads" / "onprem"
    valid = sorted(directory.glob("valid_*.json"))
    invalid = sorted(directory.glob("invalid_*.json"))
    assert (len(valid), len(invalid)) == (28, 5)
    for path in valid:
        check_onprem_shape(parse_object(path.read_bytes()))
    for path in invalid:
        assert reason(lambda path=path: check_onprem_shape(parse_object(path.read_bytes()))) == (
            422,
            "bad_shape",
        )


def test_every_cloud_payload_passes_the_envelope_check(reference: Path) -> None:
    paths = sorted((reference / "payloads" / "cloud").glob("*.json"))
    assert len(paths) >= 30
    for path in paths:
        check_cloud_shape(parse_object(path.read_bytes()))
    assert reason(lambda: check_cloud_shape({"entry": []})) == (422, "bad_shape")


def test_dedup_keys_name_messages_and_each_status_change() -> None:
    sent = {"statuses": [{"id": "wamid.1", "status": "sent", "timestamp": "1"}]}
    read = {"statuses": [{"id": "wamid.1", "status": "read", "timestamp": "2"}]}
    assert dedup_key("onprem", sent) == dedup_key("onprem", dict(sent))
    assert dedup_key("onprem", sent) != dedup_key("onprem", read)
    assert dedup_key("onprem", {"errors": [{"code": 1, "title": "x"}]}) is None
    message = {"messages": [{"id": "ABC"}]}
    cloud = {"object": "w", "entry": [{"changes": [{"value": {"messages": [{"id": "ABC"}]}}]}]}
    assert dedup_key("cloud", cloud) is not None
    assert dedup_key("cloud", cloud) != dedup_key("onprem", message)
