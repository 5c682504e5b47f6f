"""Each host's command runner, read from whatever engine a deployment has: one host's engine, the
engines of several hosts, or a Swarm's nodes; an engine that cannot run commands is left out."""

from __future__ import annotations

from pathlib import Path

from onprem.engine.commands import HostCommands, host_commands
from onprem.engine.hosts import HostsEngine
from onprem.engine.swarm import SwarmEngine
from tests.unit.fakes import RecordingEngine
from tests.unit.residency.fakes import FakeHost


class RunnableEngine(RecordingEngine):
    """An engine that also runs commands on its host (as LocalEngine and SshEngine do)."""

    def run(self, argv: object, *, stdin: object = None, timeout: float = 900) -> tuple[int, bytes, bytes]:
        return 0, b"ran", b""


def test_one_host_is_its_engine_when_the_engine_runs_commands() -> None:
    engine = RunnableEngine()
    assert host_commands(engine, ["local"]) == {"local": engine}
    assert isinstance(engine, HostCommands)


def test_an_engine_that_cannot_run_commands_gives_no_runner() -> None:
    assert host_commands(RecordingEngine(), ["local"]) == {}


def test_several_hosts_give_each_host_its_own_engine_in_config_order() -> None:
    wa1, wa2 = RunnableEngine(), RecordingEngine()
    engine = HostsEngine(
        {"wa1": wa1, "wa2": wa2},  # type: ignore[dict-item]
        primary="wa1",
        bundle_dirs={"wa1": Path("a"), "wa2": Path("b")},
        service_hosts={},
    )
    found = host_commands(engine, ["wa2", "wa1"])
    assert found == {"wa1": wa1}, "wa2's engine runs no commands, so it is left out"


def test_a_swarm_gives_its_nodes() -> None:
    n1, n2 = FakeHost(), FakeHost()
    swarm = SwarmEngine(
        {"n1": n1, "n2": n2},  # type: ignore[dict-item]
        manager="n1",
        web_host="n1",
        labels={},
        convergence_timeout=10,
    )
    found = host_commands(swarm, ["n1", "n2"])
    assert list(found) == ["n1", "n2"]
    assert found["n2"] is n2
