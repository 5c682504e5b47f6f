"""The Redis Streams store against a real redis-server: replicas share events, leases, outcomes, DLQ."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from click.testing import CliRunner

from onprem.cli.relay import relay
from onprem.relay.settings import RedisSettings
from onprem.relay.store import (
    DEAD,
    DELIVERED,
    PENDING,
    NewEvent,
    Outcome,
    RelayStoreError,
)
from onprem.relay.store.redis import RedisStore
from onprem.relay.store.redis_admin import RedisAdmin
from tests.integration.relay.redis_server import RedisServer
from tests.unit.relay.conftest import Clock

T = TypeVar("T")
LEASE = 30.0


def event(n: int, clock: Clock, key: str | None = None) -> NewEvent:
    return NewEvent(f"evt_{n}", "onprem", clock(), b'{"n":%d}' % n, key, leased=False)


def replica(server: RedisServer, clock: Clock, name: str, **kw: float) -> RedisStore:
    settings = RedisSettings(url=server.url, password_file=str(server.password_file), consumer=name)
    return RedisStore(settings, ["a", "b"], clock=clock, lease_seconds=LEASE, **kw)


def with_replicas(
    server: RedisServer, clock: Clock, work: Callable[[RedisStore, RedisStore], Awaitable[T]]
) -> T:
    async def scenario() -> T:
        one, two = replica(server, clock, "one"), replica(server, clock, "two")
        await one.open()
        await two.open()
        try:
            return await work(one, two)
        finally:
            await one.close()
            await two.close()

    return asyncio.run(scenario())


@asynccontextmanager
async def dead_letter_admin(server: RedisServer, clock: Clock) -> AsyncIterator[RedisAdmin]:
    """What `dlq list` and `replay` use: its own connection, beside the replicas."""
    settings = RedisSettings(url=server.url, password_file=str(server.password_file))
    admin = RedisAdmin(settings, ["a", "b"], clock=clock)
    await admin.open()
    try:
        yield admin
    finally:
        await admin.close()


def test_appends_from_two_replicas_get_distinct_numbers_and_a_shared_dedup_window(
    redis_server: RedisServer,
) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> list[int | None]:
        first = await asyncio.gather(*(s.append(event(n, clock)) for n in range(200) for s in (one, two)))
        keyed = [
            await one.append(event(1000, clock, "wamid.X")),
            await two.append(event(1001, clock, "wamid.X")),
        ]
        return [*first, *keyed]

    seqs = with_replicas(redis_server, clock, work)
    stored, (kept, duplicate) = seqs[:400], seqs[400:]
    assert sorted(s for s in stored if s is not None) == list(range(1, 401))
    assert kept == 401
    assert duplicate is None, "the second replica saw the first one's key"
    assert redis_server.client().xlen("{onprem-relay}:events") == 401


def test_each_new_event_goes_to_exactly_one_replica_per_endpoint(redis_server: RedisServer) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        for n in range(50):
            await one.append(event(n, clock))
        got_one = await one.claim_due(30)
        got_two = await two.claim_due(1000)
        return [(d.seq, d.endpoint) for d in got_one], [(d.seq, d.endpoint) for d in got_two]

    by_one, by_two = with_replicas(redis_server, clock, work)
    assert len(by_one) == 30
    assert not set(by_one) & set(by_two)
    assert sorted(by_one + by_two) == sorted((seq, ep) for seq in range(1, 51) for ep in ("a", "b"))


def test_a_killed_replicas_leases_run_out_and_another_replica_takes_over(redis_server: RedisServer) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> tuple[int, int, list[int]]:
        await one.append(event(1, clock))
        taken = await one.claim_due(10)  # then `one` dies: it never records an outcome
        await one.record([Outcome(taken[0].seq, "a", PENDING, 3, clock() - 1, "boom")])
        early = len(await two.claim_due(10))
        clock.now += LEASE + 1
        late = await two.claim_due(10)
        return len(taken), early, sorted(d.attempts for d in late)

    taken, early, attempts = with_replicas(redis_server, clock, work)
    assert taken == 2
    assert early == 1, "the retry recorded for endpoint a is due; b is still leased to the dead replica"
    # After the lease, both come back: b's from the dead replica, a's retry that `two` took and dropped,
    # each with its own attempt count.
    assert attempts == [0, 3]


def test_outcomes_deliver_retry_and_dead_letter_then_replay_restores_a_fresh_budget(
    redis_server: RedisServer,
) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> dict[str, object]:
        for n in range(3):
            await one.append(event(n, clock))
        claimed = await one.claim_due(100)
        a = {d.seq: d for d in claimed if d.endpoint == "a"}
        await one.record(
            [Outcome(1, "a", DELIVERED, 1, clock()), Outcome(2, "a", PENDING, 1, clock() + 100, "status_503")]
        )
        await one.record([Outcome(3, "a", DEAD, 7, clock(), "max attempts: status_500")])
        await one.record([Outcome(seq, "b", DELIVERED, 1, clock()) for seq in (1, 2, 3)])
        gauges = await two.gauges()
        not_yet = await two.claim_due(100)
        clock.now += 101
        retried = await two.claim_due(100)
        async with dead_letter_admin(redis_server, clock) as dlq:
            dead = await dlq.list_dead(None, 10)
            requeued = await dlq.replay("a", ["evt_2"])
        again = await two.claim_due(100)
        return {
            "claimed": sorted(a),
            "gauges": (gauges.pending, gauges.dead),
            "not_yet": not_yet,
            "retried": [(d.seq, d.attempts) for d in retried],
            "dead": [(r.event_id, r.endpoint, r.attempts, r.error, r.size) for r in dead],
            "requeued": requeued,
            "again": [(d.seq, d.attempts, d.body) for d in again],
            "after": (await two.gauges()).dead,
        }

    got = with_replicas(redis_server, clock, work)
    assert got["claimed"] == [1, 2, 3]
    assert got["gauges"] == (1, 1), "one retry waiting, one dead letter; delivered ones are gone"
    assert got["not_yet"] == []
    assert got["retried"] == [(2, 1)]
    assert got["dead"] == [("evt_2", "a", 7, "max attempts: status_500", 7)]
    assert got["requeued"] == 1
    assert got["again"] == [(3, 0, b'{"n":2}')]
    assert got["after"] == 0


def test_a_410_dead_letters_in_flight_deliveries_and_replay_re_enables_for_every_replica(
    redis_server: RedisServer,
) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> dict[str, object]:
        await one.append(event(1, clock))
        await one.claim_due(100)
        gone = await one.disable_endpoint("a", "410 gone: endpoint disabled")
        await one.append(event(2, clock))  # arrives while a is disabled: waits unread
        while_disabled = [(d.seq, d.endpoint) for d in await two.claim_due(100)]
        seen_disabled = two.disabled
        async with dead_letter_admin(redis_server, clock) as dlq:
            requeued = await dlq.replay("a", [])
        after = sorted((d.seq, d.endpoint) for d in await one.claim_due(100))
        await two.claim_due(100)
        return {
            "gone": gone,
            "while": while_disabled,
            "seen": seen_disabled,
            "requeued": requeued,
            "after": after,
            "enabled": (one.disabled, two.disabled),
        }

    got = with_replicas(redis_server, clock, work)
    assert got["gone"] == 1
    assert got["while"] == [(2, "b")]
    assert got["seen"] == frozenset({"a"})
    assert got["requeued"] == 1
    assert got["after"] == [(1, "a"), (2, "a")]
    assert got["enabled"] == (frozenset(), frozenset()), "every replica sees it at its next claim"


def test_purge_trims_old_delivered_events_and_keeps_anything_still_owed(redis_server: RedisServer) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> tuple[int, int, list[int]]:
        for n in range(6):
            await one.append(event(n, clock))
        await one.claim_due(100)
        await one.record([Outcome(seq, ep, DELIVERED, 1, clock()) for seq in (1, 2, 4, 5, 6) for ep in "ab"])
        await one.record([Outcome(3, "a", DELIVERED, 1, clock())])  # 3 is still owed to b
        clock.now += 8 * 86400
        deleted = await one.purge()
        gauges = await one.gauges()
        left = redis_server.client().xrange("{onprem-relay}:events")
        return deleted, gauges.pending, [int(entry_id.split(b"-")[0]) for entry_id, _ in left]

    deleted, pending, left = with_replicas(redis_server, clock, work)
    assert deleted == 2, "1 and 2 are delivered everywhere and past retention; 3 blocks the rest"
    assert left == [3, 4, 5, 6]
    assert pending == 1


def test_a_stale_outcome_from_a_replica_whose_lease_ran_out_changes_nothing(
    redis_server: RedisServer,
) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> tuple[int, int]:
        await one.append(event(1, clock))
        await one.claim_due(100)
        clock.now += LEASE + 1
        for d in await two.claim_due(100):
            await two.record([Outcome(d.seq, d.endpoint, DELIVERED, 1, clock())])
        await one.record([Outcome(1, "a", DEAD, 1, clock(), "late failure")])
        gauges = await one.gauges()
        return gauges.pending, gauges.dead

    assert with_replicas(redis_server, clock, work) == (0, 0)


def test_redis_down_or_a_wrong_password_is_a_store_error_never_an_ack(redis_server: RedisServer) -> None:
    clock = Clock()
    redis_server.password_file.write_text("wrong-password")

    async def wrong_password() -> None:
        await replica(redis_server, clock, "x").open()

    with pytest.raises(RelayStoreError, match="cannot use Redis"):
        asyncio.run(wrong_password())
    redis_server.password_file.write_text("itest-redis-password-0123456789")

    async def down() -> None:
        store = replica(redis_server, clock, "y")
        await store.open()
        redis_server.stop()
        try:
            await store.append(event(1, clock))
        finally:
            await store.close()

    with pytest.raises(RelayStoreError, match="redis"):
        asyncio.run(down())


def test_dlq_list_and_replay_commands_work_on_the_redis_store(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    clock = Clock()

    async def dead_letters(one: RedisStore, two: RedisStore) -> None:
        for n in (1, 2):
            await one.append(event(n, clock))
        await one.claim_due(100)
        await one.disable_endpoint("a", "410 gone: endpoint disabled")

    with_replicas(redis_server, clock, dead_letters)
    config = tmp_path / "relay.yaml"
    store = {
        "backend": "redis",
        "redis": {"url": redis_server.url, "password_file": str(redis_server.password_file)},
    }
    endpoints = [{"name": name, "url": "http://127.0.0.1:9/hook"} for name in ("a", "b")]
    config.write_text(yaml.safe_dump({"store": store, "delivery": {"endpoints": endpoints}}))
    listed = CliRunner().invoke(relay, ["dlq", "list", "--settings", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.output)
    assert document["count"] == 2
    rows = document["dead_letters"]
    assert [(r["event_id"], r["endpoint"], r["error"]) for r in rows] == [
        ("evt_1", "a", "410 gone: endpoint disabled"),
        ("evt_2", "a", "410 gone: endpoint disabled"),
    ]
    replayed = CliRunner().invoke(relay, ["replay", "--settings", str(config), "--id", "evt_2"])
    assert replayed.exit_code == 0, replayed.output
    assert "requeued 1 deliveries" in replayed.output
    assert redis_server.client().hkeys("{onprem-relay}:disabled") == []
    replayed = CliRunner().invoke(relay, ["replay", "--settings", str(config), "--all"])
    assert "requeued 1 deliveries" in replayed.output


def test_a_claim_shares_its_limit_between_endpoints_and_gives_what_one_leaves_to_the_other(
    redis_server: RedisServer,
) -> None:
    clock = Clock()

    async def work(one: RedisStore, two: RedisStore) -> tuple[list[str], list[str]]:
        for n in range(40):
            await one.append(event(n, clock))
        first = await one.claim_due(10)
        rest = await one.claim_due(100)  # everything else, for both endpoints
        await one.record(
            [Outcome(d.seq, "b", DELIVERED, 1, clock()) for d in first + rest if d.endpoint == "b"]
        )
        fair = [d.endpoint for d in first]
        clock.now += LEASE + 1  # every lease of a runs out: a has 40 due, b nothing
        leftover = [d.endpoint for d in await two.claim_due(25)]
        return fair, leftover

    fair, leftover = with_replicas(redis_server, clock, work)
    assert sorted(fair) == ["a"] * 5 + ["b"] * 5
    assert leftover == ["a"] * 25, "b's unused share goes to a"


def test_concurrent_calls_share_round_trips_and_a_flushed_redis_gets_its_scripts_back(
    redis_server: RedisServer,
) -> None:
    clock, batches = Clock(), list[int]()

    async def scenario() -> tuple[list[int | None], int | None]:
        settings = RedisSettings(url=redis_server.url, password_file=str(redis_server.password_file))
        store = RedisStore(settings, ["a"], clock=clock, on_batch=batches.append)
        await store.open()
        try:
            seqs = await asyncio.gather(*(store.append(event(n, clock)) for n in range(300)))
            redis_server.client().script_flush()  # as after a Redis restart without persistence
            after = await store.append(event(1000, clock))
            return list(seqs), after
        finally:
            await store.close()

    seqs, after = asyncio.run(scenario())
    assert sorted(s for s in seqs if s is not None) == list(range(1, 301))
    assert max(batches) > 1, "concurrent appends went in one pipeline"
    assert len(batches) < 300
    assert after == 301
