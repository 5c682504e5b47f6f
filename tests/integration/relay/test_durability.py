"""At-least-once across SIGKILL and downstream outages: every acknowledged id reaches the sink."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.integration.relay.harness import Load, RelayProcess, Sink, message_body
from tests.integration.relay.redis_server import RedisServer

pytestmark = pytest.mark.integration


async def wait_until_delivered(sink: Sink, owed: set[str], timeout: float) -> set[str]:
    """Poll the sink until it has every owed id or the timeout passes; returns what is still missing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = owed - set(sink.received)
        if not missing:
            return missing
        await asyncio.sleep(0.2)
    return owed - set(sink.received)


def test_every_acked_id_arrives_after_five_sigkills_under_load(tmp_path: Path) -> None:
    sink = Sink()
    sink.start()
    relay = RelayProcess(tmp_path, sink.url)
    load = Load(relay.ingress, concurrency=32)

    async def scenario() -> set[str]:
        relay.start()
        for cycle in range(6):
            stop = asyncio.Event()
            task = asyncio.create_task(load.run(stop, f"c{cycle}"))
            await asyncio.sleep(1.5)
            if cycle < 5:
                relay.kill()  # mid-load: requests in flight are lost unacknowledged, acked ones must not be
                await asyncio.sleep(0.2)
                relay.start()
            stop.set()
            await task
        return await wait_until_delivered(sink, set(load.acked), timeout=60)

    try:
        missing = asyncio.run(scenario())
    finally:
        relay.stop()
        sink.stop()
    duplicates = sum(count - 1 for count in sink.received.values() if count > 1)
    print(
        f"\nrelay durability: acked={len(load.acked)} unacked_failures={load.failed} "
        f"delivered_unique={len(set(sink.received) & load.acked)} duplicates={duplicates} "
        f"bad_signatures={sink.bad_signatures}"
    )
    assert len(load.acked) > 1000, "the load generator got enough acknowledgements to mean something"
    assert not missing, f"{len(missing)} acknowledged ids never arrived, e.g. {sorted(missing)[:5]}"
    assert sink.bad_signatures == 0


OUTAGE_SECONDS = 60.0


def test_a_downstream_outage_of_a_minute_ends_with_everything_delivered(tmp_path: Path) -> None:
    sink = Sink()  # not started yet: the downstream is down
    relay = RelayProcess(
        tmp_path,
        sink.url,
        delivery={"backoff_base_seconds": 0.5, "backoff_max_seconds": 10.0, "max_attempts": 1000},
    )
    owed: list[str] = []

    async def scenario() -> tuple[set[str], str]:
        relay.start()
        started = time.monotonic()
        killed = False
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - started < OUTAGE_SECONDS:  # events keep coming during the outage
                message_id = f"outage-{len(owed)}"
                try:
                    async with session.post(
                        relay.ingress,
                        data=message_body(message_id),
                        headers={"Content-Type": "application/json"},
                    ) as response:
                        if response.status == 200:
                            owed.append(message_id)
                except aiohttp.ClientError:
                    pass  # the relay is restarting: not acknowledged, not owed
                if not killed and time.monotonic() - started > OUTAGE_SECONDS / 2:
                    relay.kill()  # and the relay dies during the outage too
                    relay.start()
                    killed = True
                await asyncio.sleep(0.05)
            sink.start()
            missing = await wait_until_delivered(sink, set(owed), timeout=45)
            async with session.get(relay.ingress.split("/webhooks")[0] + "/metrics") as response:
                return missing, await response.text()

    try:
        missing, metrics = asyncio.run(scenario())
    finally:
        relay.stop()
        sink.stop()
    print(f"\nrelay outage: {OUTAGE_SECONDS:.0f}s, acked={len(owed)}, delivered={len(set(sink.received))}")
    assert len(owed) > 500
    assert not missing, f"{len(missing)} ids never arrived after the outage"
    assert "relay_queued_deliveries 0.0" in metrics


def test_two_replicas_on_redis_deliver_every_acked_id_when_one_is_killed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    sink = Sink()
    sink.start()
    store = {
        "backend": "redis",
        "lease_seconds": 6,  # a killed replica's deliveries are taken over 6 s after it took them
        "redis": {"url": redis_server.url, "password_file": str(redis_server.password_file)},
    }
    survivor = RelayProcess(tmp_path / "survivor", sink.url, store=store)
    victim = RelayProcess(tmp_path / "victim", sink.url, store=store)
    loads = [Load(survivor.ingress, concurrency=16), Load(victim.ingress, concurrency=16)]

    async def scenario() -> set[str]:
        survivor.start()
        victim.start()
        for cycle in range(6):
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(load.run(stop, f"{name}{cycle}"))
                for name, load in zip("sv", loads, strict=True)
            ]
            await asyncio.sleep(1.5)
            victim.kill()  # mid-load, holding leased deliveries; restarted 5 times, the 6th kill is for good
            if cycle < 5:
                await asyncio.sleep(0.2)
                victim.start()
            stop.set()
            await asyncio.gather(*tasks)
        acked = loads[0].acked | loads[1].acked
        return await wait_until_delivered(sink, acked, timeout=90)

    try:
        missing = asyncio.run(scenario())
    finally:
        survivor.stop()
        victim.stop()
        sink.stop()
    acked = loads[0].acked | loads[1].acked
    duplicates = sum(count - 1 for count in sink.received.values() if count > 1)
    print(
        f"\nrelay on redis, 2 replicas: acked={len(acked)} (via victim {len(loads[1].acked)}) "
        f"delivered_unique={len(set(sink.received) & acked)} duplicates={duplicates} "
        f"bad_signatures={sink.bad_signatures}"
    )
    assert len(loads[0].acked) > 500
    assert len(loads[1].acked) > 500, "the killed replica acknowledged events too"
    assert not missing, f"{len(missing)} acknowledged ids never arrived, e.g. {sorted(missing)[:5]}"
    assert sink.bad_signatures == 0
