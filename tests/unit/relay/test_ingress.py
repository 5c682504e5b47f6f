"""The HTTP ingress end to end on loopback: payloads forwarded byte-identical, bad input 4xx and unstored."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from onprem.relay.signing import parse_secrets, verify_headers
from onprem.relay.store import sqlite_sql as sql
from tests.unit.relay.conftest import (
    APP_SECRET,
    PATH_TOKEN,
    SINK_SECRET,
    VERIFY_TOKEN,
    RecordingTransport,
    relay_settings,
    run,
    running_relay,
)

ONPREM = f"/webhooks/onprem/{PATH_TOKEN}"
JSON = {"Content-Type": "application/json"}


def sign(body: bytes) -> dict[str, str]:
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {**JSON, "X-Hub-Signature-256": f"sha256={digest}"}


def stored_count(tmp_path: Path) -> int:
    conn = sql.connect(tmp_path / "data")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def payloads(reference: Path, kind: str) -> list[Path]:
    return sorted((reference / "payloads" / kind).glob("valid_*.json" if kind == "onprem" else "*.json"))


def test_every_reference_payload_is_acked_and_forwarded_byte_identical_and_signed(
    tmp_path: Path, reference: Path
) -> None:
    onprem, cloud = payloads(reference, "onprem"), payloads(reference, "cloud")
    bodies = [p.read_bytes() for p in onprem + cloud]

    async def scenario() -> RecordingTransport:
        transport = RecordingTransport(arrived=asyncio.Event(), expect=len(bodies) * 2)
        # Several reference bodies reuse the same message ids: de-duplication is off for this test.
        settings = relay_settings(tmp_path, endpoints=2, store={"dedup_window_seconds": 0})
        async with running_relay(settings, transport) as (client, _):
            for path in onprem:
                response = await client.post(ONPREM, data=path.read_bytes(), headers=JSON)
                assert response.status == 200, path.name
            for path in cloud:
                response = await client.post(
                    "/webhooks/cloud", data=path.read_bytes(), headers=sign(path.read_bytes())
                )
                assert response.status == 200, path.name
            await asyncio.wait_for(transport.arrived.wait(), 10)  # type: ignore[union-attr]
        return transport

    transport = run(scenario())
    keys = parse_secrets(SINK_SECRET)
    for endpoint in ("/0", "/1"):
        forwarded = [body for url, body, _ in transport.calls if url.endswith(endpoint)]
        assert sorted(forwarded) == sorted(bodies)
    for _, body, headers in transport.calls:
        assert verify_headers(keys, headers, body, now=float(headers["webhook-timestamp"]))
        assert headers["Content-Type"] == "application/json"


def test_a_gzip_body_is_stored_and_forwarded_inflated(tmp_path: Path, reference: Path) -> None:
    body = (reference / "payloads" / "onprem" / "valid_00_message_text.json").read_bytes()

    async def scenario() -> RecordingTransport:
        transport = RecordingTransport(arrived=asyncio.Event(), expect=1)
        async with running_relay(relay_settings(tmp_path), transport) as (client, _):
            response = await client.post(
                ONPREM, data=gzip.compress(body), headers={**JSON, "Content-Encoding": "gzip"}
            )
            assert response.status == 200
            await asyncio.wait_for(transport.arrived.wait(), 10)  # type: ignore[union-attr]
        return transport

    assert run(scenario()).calls[0][1] == body


GOOD = b'{"statuses":[{"id":"wamid.1","status":"sent","timestamp":"1"}]}'
CLOUD = b'{"object":"whatsapp_business_account","entry":[]}'
HUGE = b'{"errors":[{"code":1,"title":"' + b"x" * (1024 * 1024) + b'"}]}'


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "reason"),
    [
        ("/webhooks/onprem/wrong-token-0123456789", GOOD, JSON, 404, "bad_path_token"),
        ("/webhooks/elsewhere", GOOD, JSON, 404, "no_route"),
        ("/healthz", GOOD, JSON, 404, "no_route"),
        (ONPREM, GOOD, {"Content-Type": "text/plain"}, 415, "content_type"),
        (ONPREM, GOOD, {}, 415, "content_type"),
        (ONPREM, b'{"statuses":[', JSON, 400, "invalid_json"),
        (ONPREM, b"[1,2]", JSON, 400, "invalid_json"),
        (ONPREM, b'{"hello":1}', JSON, 422, "bad_shape"),
        (ONPREM, HUGE, JSON, 413, "body_too_large"),
        (ONPREM, gzip.compress(HUGE), {**JSON, "Content-Encoding": "gzip"}, 413, "body_too_large"),
        (ONPREM, b"\x1f\x8b garbage", {**JSON, "Content-Encoding": "gzip"}, 400, "bad_gzip"),
        ("/webhooks/cloud", CLOUD, JSON, 401, "signature_missing"),
        ("/webhooks/cloud", CLOUD, {**sign(CLOUD + b" ")}, 403, "signature_mismatch"),
        (
            "/webhooks/cloud",
            CLOUD,
            {**JSON, "X-Hub-Signature-256": sign(CLOUD)["X-Hub-Signature-256"].upper()},
            403,
            "signature_malformed",
        ),
        (
            "/webhooks/cloud",
            CLOUD,
            {**JSON, "X-Hub-Signature-256": sign(CLOUD)["X-Hub-Signature-256"][:40]},
            403,
            "signature_malformed",
        ),
        (
            "/webhooks/cloud",
            CLOUD,
            {**JSON, "X-Hub-Signature": "sha1=" + hmac.new(APP_SECRET.encode(), CLOUD, "sha1").hexdigest()},
            403,
            "signature_sha1_not_allowed",
        ),
        ("/webhooks/cloud", b'{"object":"x"}', sign(b'{"object":"x"}'), 422, "bad_shape"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_counted_reason_and_nothing_is_stored(
    tmp_path: Path, path: str, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    async def scenario() -> tuple[int, str]:
        async with running_relay(relay_settings(tmp_path)) as (client, _):
            response = await client.post(path, data=body, headers=headers)
            assert response.status == status
            metrics = await (await client.get("/metrics")).text()
            health = await client.get("/healthz")
            assert health.status == 200, "the relay is still healthy after a bad request"
            return response.status, metrics

    _, metrics = run(scenario())
    assert f'relay_rejected_total{{reason="{reason}"}} 1.0' in metrics
    assert stored_count(tmp_path) == 0


def test_a_slow_sender_gets_408_and_nothing_is_stored(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, limits={"read_timeout_seconds": 0.3})

    async def scenario() -> str:
        async with running_relay(settings) as (client, _):
            host, port = client.server.host, client.server.port
            reader, writer = await asyncio.open_connection(host, port)
            head = (
                f"POST {ONPREM} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(GOOD)}\r\n\r\n"
            )
            writer.write(head.encode() + GOOD[:5])
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            return status_line.decode()

    assert " 408 " in run(scenario())
    assert stored_count(tmp_path) == 0


def test_a_sender_that_never_finishes_its_headers_is_disconnected(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path, limits={"keepalive_timeout_seconds": 0.3})

    async def scenario() -> bytes:
        async with running_relay(settings) as (client, _):
            reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
            writer.write(f"POST {ONPREM} HTTP/1.1\r\nHost: x\r\n".encode())
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 5)  # EOF: the relay closed the connection
            writer.close()
            return data

    assert run(scenario()) == b""
    assert stored_count(tmp_path) == 0


def test_the_cloud_subscription_handshake(tmp_path: Path) -> None:
    async def scenario() -> list[tuple[int, str]]:
        async with running_relay(relay_settings(tmp_path)) as (client, _):
            out = []
            for token in (VERIFY_TOKEN, "nope"):
                params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
                response = await client.get("/webhooks/cloud", params=params)
                out.append((response.status, await response.text()))
            return out

    (ok_status, ok_body), (bad_status, _) = run(scenario())
    assert (ok_status, ok_body) == (200, "1158201444")
    assert bad_status == 403


def test_a_retried_body_is_acked_but_stored_and_forwarded_once(tmp_path: Path) -> None:
    async def scenario() -> tuple[RecordingTransport, str]:
        transport = RecordingTransport()
        async with running_relay(relay_settings(tmp_path), transport) as (client, _):
            for _ in range(3):
                assert (await client.post(ONPREM, data=GOOD, headers=JSON)).status == 200
            await asyncio.sleep(0.3)
            return transport, await (await client.get("/metrics")).text()

    transport, metrics = run(scenario())
    assert len(transport.calls) == 1
    assert "relay_duplicates_total 2.0" in metrics
    assert stored_count(tmp_path) == 1


def test_healthz_is_503_when_the_store_cannot_commit(tmp_path: Path) -> None:
    async def scenario() -> int:
        async with running_relay(relay_settings(tmp_path)) as (client, relay):
            await relay.store.close()
            return (await client.get("/healthz")).status

    assert run(scenario()) == 503


def test_metrics_expose_the_documented_families(tmp_path: Path) -> None:
    async def scenario() -> str:
        async with running_relay(relay_settings(tmp_path)) as (client, _):
            await client.post(ONPREM, data=GOOD, headers=JSON)
            response = await client.get("/metrics")
            assert response.headers["Content-Type"].startswith("text/plain")
            return await response.text()

    text: Any = run(scenario())
    for family in (
        "relay_received_total",
        "relay_rejected_total",
        "relay_stored_total",
        "relay_queued_deliveries",
        "relay_oldest_pending_age_seconds",
        "relay_delivered_total",
        "relay_retried_total",
        "relay_dead_lettered_total",
        "relay_ack_latency_seconds_bucket",
    ):
        assert family in text or f"# TYPE {family.removesuffix('_total')}" in text, family
