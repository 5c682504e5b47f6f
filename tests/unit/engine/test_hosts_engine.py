"""Several hosts behind one engine: what `status` sees when one of them is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from onprem.engine.hosts import HostsEngine
from onprem.errors import EngineError
from tests.unit.fakes import RecordingEngine, running


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
