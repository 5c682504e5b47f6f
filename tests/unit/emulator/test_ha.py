"""Multiconnect HA over a real (SQLite) store and a fake clock: the master lease, shard assignment,
promotion after unhealthy_interval, and the promise that a shard never has two owners."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onprem.emulator.cluster import MasterAgent, ShardOwner, standbys
from onprem.emulator.dbconnect import Dialect, open_sqlite
from onprem.emulator.ha import BEAT, FENCE, ShardRow, SplitBrain, check_map, failover_delay, plan
from onprem.emulator.hastore import HaStore
from onprem.emulator.store import Store
from onprem.emulator.testing import START, FakeClock, sqlite_store

UNHEALTHY = 5


@dataclass
class Cluster:
    """Masters and coreapps as their core processes would tick them, over one store and one clock."""

    store: Store
    clock: FakeClock
    owners: dict[str, ShardOwner] = field(default_factory=dict)
    masters: dict[str, MasterAgent] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)

    @classmethod
    def start(
        cls, store: Store, clock: FakeClock, *, masters: int = 2, cores: int = 3, shards: int = 2
    ) -> Cluster:
        store.put_setting("shards", shards)
        store.put_setting("application", {"unhealthy_interval": UNHEALTHY, "heartbeat_interval": 1})
        ha = HaStore(store)
        cluster = cls(store, clock)
        for i in range(1, masters + 1):
            cluster.masters[f"master{i}:m{i}"] = MasterAgent(store, ha, f"master{i}:m{i}")
        for i in range(1, cores + 1):
            cluster.owners[f"wacore{i}:c{i}"] = ShardOwner(ha, f"wacore{i}:c{i}")
        return cluster

    @property
    def names(self) -> list[str]:
        return [*self.masters, *self.owners]

    def tick(self, name: str, *, lag: float = 0.0) -> None:
        """One heartbeat of `name`, stamped `lag` seconds ago (a tick that took its time to land)."""
        if name in self.dead:
            return
        now = self.clock() - lag
        kind = "master" if name in self.masters else "coreapp"
        self.store.heartbeat(name, name.split(":")[0], kind, started_at=START, now=now)
        if name in self.masters:
            self.masters[name].tick(now)
        else:
            self.owners[name].tick(now)

    def round(self) -> None:
        for name in self.names:
            self.tick(name)

    def run(self, seconds: float) -> None:
        """Every live node ticks once per beat for `seconds`."""
        for _ in range(int(seconds / BEAT)):
            self.clock.advance(BEAT)
            self.round()

    def kill(self, name: str) -> None:
        self.dead.add(name)

    def stop(self, name: str) -> None:
        """A stop on purpose: free the shard or the lease, mark the node stopped."""
        if name in self.owners:
            self.owners[name].release()
        else:
            self.masters[name].release()
        self.store.mark_stopped(name, self.clock())
        self.dead.add(name)

    def serving(self) -> dict[int, set[str]]:
        """Shard -> every process that would serve it now (a frozen one included: it would on waking)."""
        now = self.clock()
        served: dict[int, set[str]] = {}
        for name, owner in self.owners.items():
            if name not in self.dead:
                for shard in owner.serving(now):
                    served.setdefault(shard, set()).add(name)
        return served

    def primaries(self) -> set[str]:
        """Masters that held the lease at their last tick (a killed one excluded)."""
        return {name for name, master in self.masters.items() if master.primary and name not in self.dead}


@pytest.fixture
def cluster(store: Store, clock: FakeClock) -> Cluster:
    return Cluster.start(store, clock)


def test_the_first_master_takes_the_lease_and_the_other_waits(cluster: Cluster) -> None:
    cluster.round()
    assert cluster.primaries() == {"master1:m1"}
    lease = HaStore(cluster.store).lease()
    assert lease is not None
    assert (lease.holder, lease.epoch) == ("master1:m1", 1)
    cluster.run(30)
    assert cluster.primaries() == {"master1:m1"}  # renewed all along


def test_a_secondary_takes_over_once_the_lease_of_a_dead_primary_expires(cluster: Cluster) -> None:
    cluster.round()
    cluster.kill("master1:m1")
    cluster.run(failover_delay(UNHEALTHY) - BEAT)
    assert cluster.primaries() == set()  # the dead one's lease still runs
    cluster.run(2 * BEAT)
    assert cluster.primaries() == {"master2:m2"}
    lease = HaStore(cluster.store).lease()
    assert lease is not None
    assert (lease.holder, lease.epoch) == ("master2:m2", 2)


def test_a_primary_stopping_on_purpose_hands_over_at_once(cluster: Cluster) -> None:
    cluster.round()
    cluster.stop("master1:m1")
    cluster.run(BEAT)
    assert cluster.primaries() == {"master2:m2"}


def test_a_master_that_lost_its_lease_changes_nothing(cluster: Cluster) -> None:
    cluster.round()
    ha = HaStore(cluster.store)
    old = ha.lease()
    assert old is not None
    cluster.clock.advance(failover_delay(UNHEALTHY) + 1)
    taken = ha.acquire_lease("master2:m2", now=cluster.clock(), ttl=10)
    assert taken is not None
    assert taken.epoch == old.epoch + 1
    assert ha.renew_lease(old, now=cluster.clock(), ttl=10) is None
    renewed, applied = ha.maintain(
        old, shards=2, standbys=["wacore1:c1"], now=cluster.clock(), ttl=10, delay=5
    )
    assert (renewed, applied.empty, ha.shard_rows()) == (None, True, [])


def test_shards_go_to_coreapps_and_one_stays_standby(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    assert cluster.serving() == {0: {"wacore1:c1"}, 1: {"wacore2:c2"}}
    rows = HaStore(cluster.store).shard_rows()
    assert [(r.shard_id, r.node_id) for r in rows] == [(0, "wacore1:c1"), (1, "wacore2:c2")]


def test_a_silent_owner_is_replaced_after_unhealthy_interval_and_not_before(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    cluster.kill("wacore1:c1")
    cluster.run(UNHEALTHY - BEAT)
    assert HaStore(cluster.store).shard_rows()[0].node_id == "wacore1:c1"
    assert 0 not in cluster.serving()  # its owner stopped serving after FENCE
    cluster.run(3 * BEAT)
    assert HaStore(cluster.store).shard_rows()[0].node_id == "wacore3:c3"
    assert cluster.serving() == {0: {"wacore3:c3"}, 1: {"wacore2:c2"}}


def test_without_a_standby_left_the_shard_stays_unserved_until_a_coreapp_comes(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    cluster.kill("wacore1:c1")
    cluster.run(UNHEALTHY + 3)
    cluster.kill("wacore3:c3")  # the standby that took shard 0
    cluster.run(2 * UNHEALTHY)
    assert cluster.serving() == {1: {"wacore2:c2"}}
    cluster.owners["wacore4:c4"] = ShardOwner(HaStore(cluster.store), "wacore4:c4")
    cluster.run(3 * BEAT)
    assert cluster.serving() == {0: {"wacore4:c4"}, 1: {"wacore2:c2"}}


def test_coreapps_keep_serving_while_every_master_is_down(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    cluster.kill("master1:m1")
    cluster.kill("master2:m2")
    cluster.run(10 * UNHEALTHY)
    assert cluster.serving() == {0: {"wacore1:c1"}, 1: {"wacore2:c2"}}


def test_a_coreapp_stopping_on_purpose_is_replaced_at_once(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    cluster.stop("wacore2:c2")
    cluster.run(2 * BEAT)
    assert cluster.serving() == {0: {"wacore1:c1"}, 1: {"wacore3:c3"}}


def test_fewer_shards_drop_rows_and_their_owners_stop(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    cluster.store.put_setting("shards", 1)
    cluster.run(2 * BEAT)
    assert cluster.serving() == {0: {"wacore1:c1"}}
    assert [r.shard_id for r in HaStore(cluster.store).shard_rows()] == [0]


def test_plan_promotes_only_replaceable_rows_to_free_standbys() -> None:
    now, delay = 100.0, 5.0
    fresh = ShardRow(0, "a", 1, 50.0, now - 1, 0.0)
    silent = ShardRow(1, "b", 1, 50.0, now - 6, 0.0)
    just_assigned = ShardRow(2, "c", 1, now - 1, 0.0, 0.0)
    decided = plan(4, [fresh, silent, just_assigned], ["a", "d", "e"], now=now, delay=delay)
    assert [(p.shard_id, p.node_id) for p in decided.promotions] == [(1, "d"), (3, "e")]
    assert plan(2, [fresh, silent], [], now=now, delay=delay).promotions == ()
    assert plan(1, [fresh, silent], [], now=now, delay=delay).drop == (1,)


def test_the_map_check_refuses_two_owners_and_two_shards() -> None:
    with pytest.raises(SplitBrain):
        check_map([ShardRow(0, "a", 1, 0, 0, 0), ShardRow(0, "b", 1, 0, 0, 0)])
    with pytest.raises(SplitBrain):
        check_map([ShardRow(0, "a", 1, 0, 0, 0), ShardRow(1, "a", 1, 0, 0, 0)])


def test_standbys_are_live_coreapps_oldest_first(store: Store, clock: FakeClock) -> None:
    store.heartbeat("b:1", "b", "coreapp", started_at=5, now=clock())
    store.heartbeat("a:1", "a", "coreapp", started_at=9, now=clock())
    store.heartbeat("m:1", "m", "master", started_at=1, now=clock())
    store.heartbeat("old:1", "old", "coreapp", started_at=1, now=clock() - FENCE - 1)
    assert standbys(store.nodes(), clock()) == ["b:1", "a:1"]


# -- never two owners, whatever the interleaving ---------------------------------------------------

NODES = ["master1:m1", "master2:m2", "wacore1:c1", "wacore2:c2", "wacore3:c3", "wacore4:c4"]
# A tick's lag: it took its time to land (positive), or the node's clock runs ahead (negative: only a
# master's, whose decisions the coreapps must not trust blindly).
EVENTS = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from(NODES), st.sampled_from([0.0, 0.0, 0.5, 2.0, 4.0])),
    st.tuples(st.just("tick"), st.sampled_from(NODES[:2]), st.sampled_from([-1.0, -2.0, -3.0])),
    st.tuples(st.just("advance"), st.sampled_from([0.2, 0.5, 1.0, 2.5, 4.0, 7.0]), st.just(0.0)),
    st.tuples(st.just("kill"), st.sampled_from(NODES), st.just(0.0)),
    st.tuples(st.just("stop"), st.sampled_from(NODES), st.just(0.0)),
    st.tuples(st.just("shards"), st.sampled_from([1, 2, 4]), st.just(0.0)),
    st.tuples(st.just("round"), st.just(""), st.just(0.0)),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly created database, copied for every example (creating one each time is slow)."""
    path = tmp_path_factory.mktemp("ha") / "template.sqlite3"
    sqlite_store(path).close()
    return path


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENTS, min_size=5, max_size=80))
def test_no_shard_ever_has_two_serving_owners(
    template: Path, events: list[tuple[str, object, float]]
) -> None:
    clock = FakeClock()
    path = template.with_name(f"run-{uuid.uuid4().hex}.sqlite3")
    shutil.copyfile(template, path)
    store = Store(lambda: open_sqlite(path), Dialect("SQLITE"))
    try:
        cluster = Cluster.start(store, clock, masters=2, cores=4, shards=2)
        cluster.round()
        cluster.run(FENCE)  # shards assigned and served: the interesting part starts here
        for kind, what, lag in events:
            if kind == "round":
                cluster.round()
            elif kind == "tick":
                cluster.tick(str(what), lag=lag)
            elif kind == "advance":
                clock.advance(float(str(what)))
            elif kind == "kill":
                cluster.kill(str(what))
            elif kind == "stop" and str(what) not in cluster.dead:
                cluster.stop(str(what))
            elif kind == "shards":
                store.put_setting("shards", what)
            doubles = {shard: owners for shard, owners in cluster.serving().items() if len(owners) > 1}
            assert not doubles, f"two owners after {kind} {what}: {doubles}"
            check_map(HaStore(store).shard_rows())
    finally:
        store.close()
        path.unlink()


def test_a_master_whose_clock_runs_ahead_cannot_make_a_second_owner(cluster: Cluster) -> None:
    cluster.round()
    cluster.run(FENCE)
    owner = "wacore1:c1"
    cluster.kill(owner)  # silent from now on, but it serves until its fence runs out
    cluster.clock.advance(2.5)
    cluster.tick("wacore3:c3")  # the standby heart-beats
    cluster.tick("master1:m1", lag=-3.0)  # 3 s ahead: the owner looks silent for long enough
    assert HaStore(cluster.store).shard_rows()[0].node_id == "wacore3:c3"
    cluster.clock.advance(0.2)
    cluster.tick("wacore3:c3")  # confirms the shard, but waits out the previous owner's fence
    now = cluster.clock()
    assert 0 in cluster.owners[owner].serving(now)
    assert 0 not in cluster.owners["wacore3:c3"].serving(now)
    cluster.clock.advance(1.0)
    cluster.tick("wacore3:c3")
    assert cluster.serving()[0] == {"wacore3:c3"}
