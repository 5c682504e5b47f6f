"""The SQLite store: group commit, de-duplication window, leases, outcomes, 410, replay, purge."""

from __future__ import annotations

import asyncio
from pathlib import Path

from onprem.relay.store import DELIVERED, PENDING, NewEvent, Outcome, RelayStoreError
from onprem.relay.store import sqlite_sql as sql
from onprem.relay.store.sqlite import SqliteStore
from tests.unit.relay.conftest import Clock, run


def event(n: int, clock: Clock, key: str | None = None) -> NewEvent:
    return NewEvent(f"msg_{n}", "onprem", clock(), b'{"n":%d}' % n, key)


def store(tmp_path: Path, clock: Clock, batches: list[int] | None = None, **kw: float) -> SqliteStore:
    sink = batches if batches is not None else []
    return SqliteStore(tmp_path, ["a", "b"], clock=clock, on_batch=sink.append, lease_seconds=60, **kw)  # type: ignore[arg-type]


def test_concurrent_appends_share_commits_and_all_survive_a_reopen(tmp_path: Path) -> None:
    clock, batches = Clock(), list[int]()

    async def scenario() -> list[int | None]:
        s = store(tmp_path, clock, batches)
        await s.open()
        seqs = await asyncio.gather(*(s.append(event(n, clock)) for n in range(500)))
        await s.close()
        return list(seqs)

    seqs = run(scenario())
    assert sorted(seqs) == list(range(1, 501))  # type: ignore[type-var]
    assert max(batches) > 1, "many appends were grouped into one commit"
    assert len(batches) < 500
    conn = sql.connect(tmp_path)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 500
    assert conn.execute("SELECT COUNT(*) FROM deliveries WHERE state = 0").fetchone()[0] == 1000
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_key_seen_within_the_window_is_a_duplicate_and_after_it_is_new(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> list[int | None]:
        s = store(tmp_path, clock, dedup_window_seconds=100)
        await s.open()
        out = [await s.append(event(1, clock, "k")), await s.append(event(2, clock, "k"))]
        clock.now += 101
        out.append(await s.append(event(3, clock, "k")))
        out.append(await s.append(event(4, clock, None)))
        out.append(await s.append(event(5, clock, None)))
        await s.close()
        return out

    first, dup, later, none1, none2 = run(scenario())
    assert first is not None
    assert dup is None
    assert later is not None
    assert None not in (none1, none2), "bodies without ids are never duplicates"


def test_fresh_deliveries_are_leased_then_claimable_once_and_outcomes_stick(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> None:
        s = store(tmp_path, clock)
        await s.open()
        seq = await s.append(event(1, clock))
        assert seq is not None
        assert await s.claim_due(10) == [], "the dispatcher holds fresh events; no poll may double them"
        clock.now += 61
        claimed = await s.claim_due(10)
        assert sorted(d.endpoint for d in claimed) == ["a", "b"]
        assert await s.claim_due(10) == [], "claimed deliveries are leased"
        await s.record(
            [Outcome(seq, "a", DELIVERED, 1, clock.now), Outcome(seq, "b", PENDING, 1, clock.now + 5)]
        )
        clock.now += 61
        again = await s.claim_due(10)
        assert [(d.endpoint, d.attempts) for d in again] == [("b", 1)]
        gauges = await s.gauges()
        assert gauges.pending == 1
        assert gauges.oldest_pending_age_seconds == 122
        await s.close()

    run(scenario())


def test_a_restart_releases_leases_so_nothing_waits_for_them(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> int:
        s = store(tmp_path, clock)
        await s.open()
        await s.append(event(1, clock))
        await s.close()
        s = store(tmp_path, clock)
        await s.open()
        n = len(await s.claim_due(10))
        await s.close()
        return n

    assert run(scenario()) == 2


def test_disable_dead_letters_pending_and_new_events_and_replay_requeues_them(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> None:
        s = store(tmp_path, clock)
        await s.open()
        await s.append(event(1, clock))
        assert await s.disable_endpoint("a", "410 gone") == 1
        await s.append(event(2, clock))
        assert (await s.gauges()).dead == 2
        await s.close()

    run(scenario())
    conn = sql.connect(tmp_path)
    dead = sql.list_dead(conn, None, 10)
    assert [(d.event_id, d.endpoint) for d in dead] == [("msg_1", "a"), ("msg_2", "a")]
    assert sql.replay(conn, clock.now, None, ["msg_2"]) == 1
    assert sql.disabled_endpoints(conn) == set()
    assert sql.replay(conn, clock.now, "a", []) == 1
    assert sql.list_dead(conn, None, 10) == []


def test_purge_keeps_undelivered_events_and_drops_delivered_ones_past_retention(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> int:
        s = store(tmp_path, clock, retention_seconds=10, dedup_window_seconds=10)
        await s.open()
        done = await s.append(event(1, clock, "k1"))
        await s.append(event(2, clock))
        assert done is not None
        await s.record(
            [Outcome(done, "a", DELIVERED, 1, clock.now), Outcome(done, "b", DELIVERED, 1, clock.now)]
        )
        clock.now += 11
        deleted = await s.purge()
        assert await s.append(event(3, clock, "k1")) is not None, "expired dedup keys are gone too"
        await s.close()
        return deleted

    assert run(scenario()) == 1
    conn = sql.connect(tmp_path)
    assert [r[0] for r in conn.execute("SELECT id FROM events ORDER BY seq")] == ["msg_2", "msg_3"]
    assert conn.execute("SELECT COUNT(*) FROM deliveries WHERE state = 2").fetchone()[0] == 0


def test_a_second_store_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    clock = Clock()

    async def scenario() -> str:
        first = store(tmp_path, clock)
        await first.open()
        try:
            await store(tmp_path, clock).open()
        except RelayStoreError as exc:
            return str(exc)
        finally:
            await first.close()
        return "opened twice"

    assert "another relay process" in run(scenario())


def test_a_purge_larger_than_one_chunk_runs_in_several_transactions(tmp_path: Path) -> None:
    clock, batches = Clock(), list[int]()

    async def scenario() -> int:
        s = SqliteStore(tmp_path, [], clock=clock, on_batch=batches.append, retention_seconds=10)
        await s.open()
        await asyncio.gather(*(s.append(event(n, clock)) for n in range(12_000)))
        clock.now += 11
        batches.clear()
        deleted = await s.purge()
        await s.close()
        return deleted

    assert run(scenario()) == 12_000
    assert len(batches) == 3, "5,000 + 5,000 + 2,000: three commits"
