"""The dispatcher: fan-out, signatures, retries with backoff, 410 disabling an endpoint, dead letters."""

from __future__ import annotations

import asyncio
from pathlib import Path

from onprem.relay.store import DeadLetter
from onprem.relay.store import sqlite_sql as sql
from tests.unit.relay.conftest import PATH_TOKEN, RecordingTransport, relay_settings, run, running_relay

BODY = b'{"messages":[{"id":"A1","from":"1","timestamp":"1","type":"text","text":{"body":"hi"}}]}'
JSON = {"Content-Type": "application/json"}
FAST = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "poll_interval_seconds": 0.02}


async def wait_for(predicate: object, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def dead_letters(tmp_path: Path) -> list[DeadLetter]:
    conn = sql.connect(tmp_path / "data")
    try:
        return sql.list_dead(conn, None, 100)
    finally:
        conn.close()


def test_failures_are_retried_until_the_endpoint_accepts(tmp_path: Path) -> None:
    transport = RecordingTransport(statuses=[503, None, 500, 200])
    settings = relay_settings(tmp_path, delivery=FAST)

    async def scenario() -> str:
        async with running_relay(settings, transport) as (client, _):
            assert (
                await client.post(f"/webhooks/onprem/{PATH_TOKEN}", data=BODY, headers=JSON)
            ).status == 200
            await wait_for(lambda: len(transport.calls) == 4)
            await asyncio.sleep(0.1)
            return await (await client.get("/metrics")).text()

    metrics = run(scenario())
    assert [body for _, body, _ in transport.calls] == [BODY] * 4
    ids = {headers["webhook-id"] for _, _, headers in transport.calls}
    assert len(ids) == 1, "every retry carries the same webhook-id"
    assert 'relay_delivered_total{endpoint="sink0"} 1.0' in metrics
    assert 'relay_retried_total{endpoint="sink0",reason="status_503"} 1.0' in metrics
    assert 'relay_retried_total{endpoint="sink0",reason="transport"} 1.0' in metrics
    assert "relay_queued_deliveries 0.0" in metrics


def test_dead_letter_after_max_attempts(tmp_path: Path) -> None:
    transport = RecordingTransport(statuses=[500])
    settings = relay_settings(tmp_path, delivery={**FAST, "max_attempts": 3})

    async def scenario() -> None:
        async with running_relay(settings, transport) as (client, _):
            await client.post(f"/webhooks/onprem/{PATH_TOKEN}", data=BODY, headers=JSON)
            await wait_for(lambda: len(transport.calls) == 3)
            await asyncio.sleep(0.2)

    run(scenario())
    assert len(transport.calls) == 3
    (dead,) = dead_letters(tmp_path)
    assert (dead.endpoint, dead.attempts) == ("sink0", 3)
    assert dead.error.startswith("max attempts")


def test_a_410_disables_only_that_endpoint_and_later_events_skip_it(tmp_path: Path) -> None:
    class GoneForSink0(RecordingTransport):
        async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float):  # type: ignore[no-untyped-def]
            self.calls.append((url, body, headers))
            from onprem.relay.policy import Attempt

            return Attempt(410 if url.endswith("/0") else 200)

    transport = GoneForSink0()
    settings = relay_settings(tmp_path, endpoints=2, delivery=FAST)
    second = BODY.replace(b"A1", b"A2")

    async def scenario() -> str:
        async with running_relay(settings, transport) as (client, _):
            await client.post(f"/webhooks/onprem/{PATH_TOKEN}", data=BODY, headers=JSON)
            await wait_for(lambda: len(transport.calls) == 2)
            await asyncio.sleep(0.1)
            await client.post(f"/webhooks/onprem/{PATH_TOKEN}", data=second, headers=JSON)
            await wait_for(lambda: len(transport.calls) == 3)
            await asyncio.sleep(0.2)
            return await (await client.get("/metrics")).text()

    metrics = run(scenario())
    assert [url[-2:] for url, _, _ in transport.calls].count("/0") == 1
    assert 'relay_endpoint_disabled{endpoint="sink0"} 1.0' in metrics
    assert sorted(d.endpoint for d in dead_letters(tmp_path)) == ["sink0", "sink0"]


def test_a_retried_non_ascii_body_is_forwarded_byte_identical_from_the_store(tmp_path: Path) -> None:
    body = '{"errors":[{"code":1,"title":"あいうえお \\u00e9 \U0001f600"}]}'.encode()
    transport = RecordingTransport(statuses=[503, 200])
    settings = relay_settings(tmp_path, delivery=FAST)

    async def scenario() -> None:
        async with running_relay(settings, transport) as (client, _):
            assert (
                await client.post(f"/webhooks/onprem/{PATH_TOKEN}", data=body, headers=JSON)
            ).status == 200
            await wait_for(lambda: len(transport.calls) == 2)

    run(scenario())
    assert [sent for _, sent, _ in transport.calls] == [body, body]
