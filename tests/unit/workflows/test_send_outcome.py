"""`onprem send` says what became of the message: it follows the status callbacks for a bounded time
(fake clock and sleep here), reports the furthest status, and for a 470 says why and which template
command to use instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from onprem.errors import ConfigError, StateError
from onprem.workflows.send import Outcome, failure_error, follow, outcome_of, send, template_message

FAILED_470 = {
    "status": "failed",
    "timestamp": "3",
    "errors": [{"code": 470, "title": "Failed to send message because you are outside the support window"}],
}


@dataclass
class Time:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def status(name: str) -> dict[str, Any]:
    return {"status": name, "timestamp": "1", "errors": []}


def test_a_470_is_failed_with_its_reason_and_the_template_command() -> None:
    outcome = outcome_of([status("sent"), FAILED_470], "16315551234")
    assert (outcome.status, outcome.code) == ("failed", 470)
    assert "outside the support window" in outcome.reason
    assert "onprem send --to 16315551234 --template NAME" in outcome.hint
    error = failure_error({"id": "gBEGx", "wa_id": "16315551234"}, outcome)
    assert error.exit_code != 0
    assert "470" in str(error)


def test_the_furthest_status_wins_whatever_the_order() -> None:
    assert outcome_of([status("delivered"), status("sent")], "1").status == "delivered"
    assert outcome_of([status("read"), status("delivered")], "1").status == "read"
    assert outcome_of([], "1").status == "accepted"


def test_following_stops_as_soon_as_the_message_is_delivered() -> None:
    t = Time()
    answers = [[], [status("sent")], [status("sent"), status("delivered")]]
    calls: list[tuple[str, float]] = []

    def lookup(message_id: str, since: float) -> list[dict[str, Any]]:
        calls.append((message_id, since))
        return answers[min(len(calls) - 1, len(answers) - 1)]

    outcome = follow(lookup, "m1", "1", since=42.0, wait=5.0, clock=t.clock, sleep=t.sleep)
    assert outcome.status == "delivered"
    assert outcome.statuses == ["sent", "delivered"]
    assert len(calls) == 3
    assert calls[0] == ("m1", 42.0)
    assert t.now == pytest.approx(1.0)


def test_following_is_bounded_by_the_wait_and_reports_what_it_saw() -> None:
    t = Time()
    outcome = follow(
        lambda m, s: [status("sent")], "m1", "1", since=0.0, wait=5.0, clock=t.clock, sleep=t.sleep
    )
    assert outcome.status == "sent"
    assert t.now == pytest.approx(5.0)
    assert max(t.slept) <= 0.5


def test_a_lookup_that_fails_ends_the_wait_saying_why() -> None:
    def broken(message_id: str, since: float) -> list[dict[str, Any]]:
        raise StateError("relay container: no relay store")

    t = Time()
    outcome = follow(broken, "m1", "1", since=0.0, clock=t.clock, sleep=t.sleep)
    assert outcome == Outcome(
        "accepted", hint="cannot read the status callbacks: relay container: no relay store"
    )
    assert t.slept == []


class FakeMessages:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def check_contacts(self, contacts: list[str]) -> list[dict[str, Any]]:
        return [{"input": contacts[0], "status": "valid", "wa_id": contacts[0].lstrip("+")}]

    def send_text(self, to: str, body: str, *, preview_url: bool = False) -> str:
        self.sent.append({"type": "text", "to": to, "body": body})
        return "gBEGtext"

    def send_message(self, message: dict[str, Any]) -> str:
        self.sent.append(message)
        return "gBEGtemplate"


def test_send_a_template_with_body_parameters() -> None:
    api = FakeMessages()
    sent = send(api, "+1 631 555 1234", text=None, template="sample_issue_resolution", params=["Kerry"])
    assert sent == {"to": "+1 631 555 1234", "wa_id": "16315551234", "id": "gBEGtemplate"}
    assert api.sent == [template_message("16315551234", "sample_issue_resolution", "en_US", ["Kerry"])]
    assert api.sent[0]["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Kerry"}]}
    ]


@pytest.mark.parametrize(
    ("text", "template", "params", "fragment"),
    [
        (None, None, (), "either --text TEXT or --template NAME"),
        ("hi", "hello_world", (), "either --text TEXT or --template NAME"),
        ("hi", None, ("x",), "--param goes with --template"),
    ],
)
def test_send_refuses_ambiguous_options(
    text: str | None, template: str | None, params: tuple[str, ...], fragment: str
) -> None:
    api = FakeMessages()
    with pytest.raises(ConfigError, match=fragment.replace("-", r"\-")):
        send(api, "+16315551234", text=text, template=template, params=params)
    assert api.sent == []
