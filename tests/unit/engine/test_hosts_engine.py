"""Several hosts behind one engine: what `status` and `down` do when one of them is lost."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from onprem.engine.hosts import HostsEngine
from onprem.errors import EngineError
from onprem.workflows.down import down
from tests.unit.fakes import RecordingEngine, make_deployment, running


class LostEngine(RecordingEngine):
    """A host whose engine stopped answering."""

    def check(self) -> None:
        raise EngineError("Cannot connect to the Docker daemon at unix:///var/run/docker.sock\nmore")


def engine(wa3: RecordingEngine) -> HostsEngine:
    return HostsEngine(
        {
            "wa1": RecordingEngine(script=[[running("waweb"), running("wacore3")]]),
            "wa2": RecordingEngine(script=[[running("wacore1")]]),
            "wa3": wa3,
        },
        primary="wa1",
        bundle_dirs={h: Path(h) for h in ("wa1", "wa2", "wa3")},
        service_hosts={"waweb": "wa1", "wacore1": "wa2", "wacore2": "wa3", "wacore3": "wa1"},
    )


def test_a_survey_keeps_the_hosts_that_answer_and_says_why_each_other_one_does_not() -> None:
    containers, lost = engine(LostEngine(script=[[running("wacore2")]])).survey("p")
    assert [c.service for c in containers] == ["wacore1", "wacore3", "waweb"]
    assert lost == {"wa3": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"}


def test_a_survey_counts_a_container_only_on_the_host_its_service_belongs_to() -> None:
    stray = RecordingEngine(script=[[running("wacore2"), running("waweb")]])
    containers, lost = engine(stray).survey("p")
    assert [c.service for c in containers] == ["wacore1", "wacore2", "wacore3", "waweb"]
    assert lost == {}


def test_checking_every_host_still_fails_when_one_host_is_lost() -> None:
    with pytest.raises(EngineError, match="Cannot connect"):
        engine(LostEngine()).check()


SEVERAL = """deployment:
  name: p
client:
  mode: multiconnect
  shards: 1
hosts:
  - name: wa1
    address: ssh://deploy@10.0.0.1
    advertise_address: 10.0.0.1
    roles: [web, db, masters, relay, exporter, coreapps]
  - name: wa2
    address: ssh://deploy@10.0.0.2
    advertise_address: 10.0.0.2
    roles: [masters, coreapps]
"""


class DeadCompose(RecordingEngine):
    def compose(
        self, bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = ()
    ) -> str:
        raise EngineError("Cannot connect to the Docker daemon\nmore")


def test_down_takes_every_host_that_answers_down_and_names_the_one_that_does_not(tmp_path: Path) -> None:
    alive = RecordingEngine()
    hosts = HostsEngine(
        {"wa1": alive, "wa2": DeadCompose()},
        primary="wa1",
        bundle_dirs={"wa1": tmp_path / "b1", "wa2": tmp_path / "b2"},
        service_hosts={},
    )
    deployment = make_deployment(tmp_path, hosts, text=SEVERAL)
    with pytest.raises(EngineError, match=r"wa2 could not be taken down .*every other host is down"):
        down(deployment, volumes=True)
    assert ("compose", "p", "down", "--remove-orphans", "--volumes") in alive.calls
