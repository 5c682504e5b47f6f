"""open_store and open_admin: the backend comes from the settings, and the SQLite dead-letter admin works
beside a relay's store that holds the data directory."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from onprem.relay.settings import RelaySettings
from onprem.relay.store import NewEvent, RelayStoreError, lease_seconds, open_admin, open_store
from onprem.relay.store.redis import RedisStore
from onprem.relay.store.redis_admin import RedisAdmin
from onprem.relay.store.sqlite import SqliteAdmin, SqliteStore
from tests.unit.relay.conftest import Clock, relay_settings, run

REDIS = {"backend": "redis", "redis": {"url": "redis://127.0.0.1:9/0"}}


def event(n: int, clock: Clock) -> NewEvent:
    return NewEvent(f"msg_{n}", "onprem", clock(), b'{"n":%d}' % n, None)


def test_open_store_and_open_admin_pick_the_backend_the_settings_name(tmp_path: Path) -> None:
    sqlite = relay_settings(tmp_path, endpoints=2)
    redis = relay_settings(tmp_path, endpoints=2, store=REDIS)

    store, admin = open_store(sqlite), open_admin(sqlite)
    assert isinstance(store, SqliteStore)
    assert store.leases_on_append, "the embedded store hands fresh events to the dispatcher"
    assert isinstance(admin, SqliteAdmin)
    assert admin.path == tmp_path / "data" / "relay.sqlite3"

    store, admin = open_store(redis), open_admin(redis)
    assert isinstance(store, RedisStore)
    assert not store.leases_on_append, "replicas find events by polling"
    assert isinstance(admin, RedisAdmin)
    assert not (tmp_path / "data").exists(), "building either touches nothing: open() does"


def test_lease_seconds_is_the_setting_or_twice_the_longest_endpoint_timeout(tmp_path: Path) -> None:
    assert lease_seconds(relay_settings(tmp_path, store={"lease_seconds": 17})) == 17
    assert lease_seconds(relay_settings(tmp_path)) == 60.0
    slow = relay_settings(tmp_path)
    endpoint = slow.delivery.endpoints[0].model_copy(update={"timeout_seconds": 45.0})
    slow = slow.model_copy(update={"delivery": slow.delivery.model_copy(update={"endpoints": [endpoint]})})
    assert lease_seconds(slow) == 90.0


def test_the_sqlite_admin_lists_and_replays_while_a_relay_store_holds_the_data_dir(tmp_path: Path) -> None:
    clock = Clock()
    settings = relay_settings(tmp_path, endpoints=2)

    async def scenario() -> dict[str, object]:
        store = open_store(settings, clock=clock)
        await store.open()
        try:
            for n in (1, 2):
                await store.append(event(n, clock))
            await store.disable_endpoint("sink0", "410 gone")
            with pytest.raises(RelayStoreError, match="another relay process"):
                await open_store(settings, clock=clock).open()  # the store's lock is held...
            admin = open_admin(settings, clock=clock)
            await admin.open()  # ...and the admin does not need it
            try:
                listed = await admin.list_dead(None, 10)
                first = await admin.list_dead(None, 1)
                other = await admin.list_dead("sink1", 10)
                # The relay keeps committing (its health probes) while the replay's transaction takes
                # its turn between them.
                *probed, replayed = await asyncio.gather(
                    *(store.probe() for _ in range(200)), admin.replay(None, ["msg_2"])
                )
                left = await admin.list_dead(None, 10)
                clock.now += 61  # past the leases of the appends
                claimed = await store.claim_due(1000)
                disabled = store.disabled
                rest = await admin.replay("sink0", [])
                after = await admin.list_dead(None, 10)
            finally:
                await admin.close()
        finally:
            await store.close()
        return {
            "listed": [(d.event_id, d.endpoint, d.error, d.size) for d in listed],
            "first": [d.event_id for d in first],
            "other": other,
            "probed": len(probed),
            "replayed": replayed,
            "left": [d.event_id for d in left],
            "claimed_sink0": sorted(d.event_id for d in claimed if d.endpoint == "sink0"),
            "disabled": disabled,
            "rest": rest,
            "after": after,
        }

    got = run(scenario())
    assert got["listed"] == [("msg_1", "sink0", "410 gone", 7), ("msg_2", "sink0", "410 gone", 7)]
    assert got["first"] == ["msg_1"]
    assert got["other"] == []
    assert got["probed"] == 200
    assert got["replayed"] == 1
    assert got["left"] == ["msg_1"]
    # The running store sees the replay at its next claim: sink0 is enabled again, msg_2 due for it.
    assert "msg_2" in got["claimed_sink0"]
    assert "msg_1" not in got["claimed_sink0"]
    assert got["disabled"] == frozenset()
    assert got["rest"] == 1
    assert got["after"] == []


def test_the_sqlite_admin_names_the_missing_store_and_creates_nothing(tmp_path: Path) -> None:
    settings = RelaySettings.model_validate({"store": {"data_dir": str(tmp_path / "nothing")}})
    admin = open_admin(settings)
    with pytest.raises(
        RelayStoreError, match=re.escape(f"no relay store at {tmp_path / 'nothing' / 'relay.sqlite3'}")
    ):
        run(admin.open())
    assert not (tmp_path / "nothing").exists()
    with pytest.raises(RelayStoreError, match="closed"):
        run(admin.list_dead(None, 10))
