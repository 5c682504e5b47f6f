"""open_store and open_admin on the Redis backend, against a real redis-server: the dead-letter admin
lists and replays while a relay's store is open on the same Redis and keeps writing."""

from __future__ import annotations

import asyncio
import re

import pytest

from onprem.relay.settings import RelaySettings
from onprem.relay.store import NewEvent, RelayStoreError, open_admin, open_store
from onprem.relay.store.redis import RedisStore
from onprem.relay.store.redis_admin import RedisAdmin
from tests.integration.relay.redis_server import RedisServer
from tests.unit.relay.conftest import Clock


def settings_for(server: RedisServer, url: str | None = None) -> RelaySettings:
    endpoints = [{"name": name, "url": "http://127.0.0.1:9/hook"} for name in ("a", "b")]
    store = {
        "backend": "redis",
        "lease_seconds": 30,
        "redis": {"url": url or server.url, "password_file": str(server.password_file)},
    }
    return RelaySettings.model_validate({"store": store, "delivery": {"endpoints": endpoints}})


def event(n: int, clock: Clock) -> NewEvent:
    return NewEvent(f"evt_{n}", "onprem", clock(), b'{"n":%d}' % n, None, leased=False)


def test_the_redis_admin_lists_and_replays_beside_a_running_store(redis_server: RedisServer) -> None:
    clock = Clock()
    settings = settings_for(redis_server)

    async def scenario() -> dict[str, object]:
        store = open_store(settings, clock=clock)
        assert isinstance(store, RedisStore)
        await store.open()
        try:
            for n in (1, 2):
                await store.append(event(n, clock))
            await store.claim_due(100)
            assert await store.disable_endpoint("a", "410 gone") == 2
            admin = open_admin(settings, clock=clock)
            assert isinstance(admin, RedisAdmin)
            await admin.open()
            try:
                listed = await admin.list_dead(None, 10)
                first = await admin.list_dead(None, 1)
                other = await admin.list_dead("b", 10)
                # The relay keeps storing events while the replay runs on its own connection.
                *appended, replayed = await asyncio.gather(
                    *(store.append(event(n, clock)) for n in range(100, 200)),
                    admin.replay(None, ["evt_2"]),
                )
                left = await admin.list_dead(None, 10)
                claimed = await store.claim_due(1000)
                disabled = store.disabled
                rest = await admin.replay("a", [])
                after = await admin.list_dead(None, 10)
            finally:
                await admin.close()
        finally:
            await store.close()
        return {
            "listed": [(d.event_id, d.endpoint, d.error, d.size) for d in listed],
            "first": [d.event_id for d in first],
            "other": other,
            "appended": sum(seq is not None for seq in appended),
            "replayed": replayed,
            "left": [d.event_id for d in left],
            "claimed_a": {d.event_id for d in claimed if d.endpoint == "a"},
            "disabled": disabled,
            "rest": rest,
            "after": after,
        }

    got = asyncio.run(scenario())
    assert got["listed"] == [("evt_1", "a", "410 gone", 7), ("evt_2", "a", "410 gone", 7)]
    assert got["first"] == ["evt_1"]
    assert got["other"] == []
    assert got["appended"] == 100
    assert got["replayed"] == 1
    assert got["left"] == ["evt_1"]
    # The running store sees the replay at its next claim: a is enabled again, and gets evt_2 back along
    # with what arrived while it was disabled; evt_1 stays a dead letter.
    claimed_a = got["claimed_a"]
    assert isinstance(claimed_a, set)
    assert "evt_2" in claimed_a
    assert "evt_1" not in claimed_a
    assert {f"evt_{n}" for n in range(100, 200)} <= claimed_a
    assert got["disabled"] == frozenset()
    assert got["rest"] == 1
    assert got["after"] == []


def test_the_redis_admin_reports_an_unreachable_redis(redis_server: RedisServer) -> None:
    admin = open_admin(settings_for(redis_server, url="redis://127.0.0.1:9/0"))

    async def scenario() -> None:
        try:
            await admin.open()
        finally:
            await admin.close()

    with pytest.raises(RelayStoreError, match=re.escape("cannot use Redis at redis://127.0.0.1:9/0")):
        asyncio.run(scenario())
