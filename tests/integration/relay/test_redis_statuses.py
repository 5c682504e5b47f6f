"""`onprem relay statuses` on the Redis backend, against a real redis-server: the admin finds one
message's status callbacks since a time, beside a running store."""

from __future__ import annotations

import asyncio
import json

from onprem.relay.statuses import statuses_for
from onprem.relay.store import NewEvent, open_admin, open_store
from tests.integration.relay.redis_server import RedisServer
from tests.integration.relay.test_redis_admin import settings_for
from tests.unit.relay.conftest import Clock


def body(message_id: str, status: str) -> bytes:
    return json.dumps({"statuses": [{"id": message_id, "status": status, "timestamp": "1"}]}).encode()


def test_the_redis_admin_finds_a_message_s_status_events_since_a_time(redis_server: RedisServer) -> None:
    clock = Clock()
    settings = settings_for(redis_server)

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        store = open_store(settings, clock=clock)
        await store.open()
        try:
            await store.append(NewEvent("s1", "onprem", clock(), body("m1", "sent"), None, leased=False))
            clock.now += 10
            since = clock()
            await store.append(NewEvent("s2", "onprem", clock(), body("m1", "delivered"), None, leased=False))
            await store.append(NewEvent("s3", "onprem", clock(), body("m2", "sent"), None, leased=False))
            admin = open_admin(settings, clock=clock)
            await admin.open()
            try:
                return await admin.bodies_mentioning("m1", 0.0, 10), await admin.bodies_mentioning(
                    "m1", since, 10
                )
            finally:
                await admin.close()
        finally:
            await store.close()

    every, recent = asyncio.run(scenario())
    assert [s["status"] for s in statuses_for("m1", every)] == ["sent", "delivered"]
    assert [s["status"] for s in statuses_for("m1", recent)] == ["delivered"]
