"""The lock's pure parts: the holder record, staleness known only where a pid can be checked, messages;
and the audit line's fields, parsing and merging."""

from __future__ import annotations

import json

from onprem.audit import FIELDS, entry, error_of, merge, parse, table, to_line
from onprem.errors import GateError
from onprem.lock import Holder, LockState, judge, refusal, stale_warning, state_line

HOLDER = Holder(
    id="op1",
    user="alice",
    host="laptop",
    machine="m-laptop",
    pid=4242,
    time="2026-01-01T00:00:00.000Z",
    command="deploy",
    reason="monthly upgrade",
    version="0.1.0",
)


def test_a_holder_survives_its_round_trip_through_the_lock_file() -> None:
    assert Holder.from_json(HOLDER.to_json()) == HOLDER


def test_a_file_that_is_not_a_lock_onprem_wrote_is_unreadable_not_free() -> None:
    for raw in (b"", b"{", b"[]", b'{"user": "x"}', b"\xff\xfe"):
        assert judge(raw, {}) == (LockState.UNREADABLE, None)
    assert judge(None, {}) == (LockState.FREE, None)


def test_a_holder_whose_pid_is_gone_on_its_own_machine_is_stale() -> None:
    checks = {("laptop", "m-laptop"): lambda pid: False}
    assert judge(HOLDER.to_json(), checks) == (LockState.STALE, HOLDER)


def test_a_holder_whose_pid_runs_is_held() -> None:
    checks = {("laptop", "m-laptop"): lambda pid: pid == 4242}
    assert judge(HOLDER.to_json(), checks)[0] is LockState.HELD


def test_a_holder_on_a_machine_that_cannot_be_checked_is_never_stale_by_guess() -> None:
    # Same host name, another machine id: a pid check here would say nothing about that machine.
    checks = {("laptop", "another-machine"): lambda pid: False, ("server", ""): lambda pid: False}
    assert judge(HOLDER.to_json(), checks)[0] is LockState.FOREIGN


def test_the_refusal_names_holder_host_pid_since_command_reason_and_the_way_out() -> None:
    message = refusal("prod", "/srv/.onprem/prod", LockState.HELD, HOLDER, 0)
    for part in (
        "prod",
        "alice@laptop",
        "pid 4242",
        "2026-01-01T00:00:00.000Z",
        "`deploy`",
        "monthly upgrade",
    ):
        assert part in message
    assert "--lock-wait" in message
    foreign = refusal("prod", "wa1:/var/lib/onprem/prod", LockState.FOREIGN, HOLDER, 30)
    assert "after waiting 30 s" in foreign
    assert "onprem lock release --force" in foreign


def test_status_lines_say_free_held_and_stale() -> None:
    assert state_line(LockState.FREE, None) == "free"
    assert state_line(LockState.HELD, HOLDER).startswith("held by alice@laptop (pid 4242)")
    assert state_line(LockState.STALE, HOLDER).startswith("stale: held by alice@laptop")
    assert "broke a stale lock at /x" in stale_warning("/x", HOLDER)


def test_an_audit_line_has_every_field_and_notes_cannot_overwrite_what_happened() -> None:
    line = entry(
        holder=HOLDER,
        deployment="prod",
        outcome="failed",
        error=error_of(GateError("service db is unhealthy", service="db"), 4),
        duration_seconds=12.34567,
        locked=["/srv/.onprem/prod"],
        notes={"release": "r7", "plan": "1 service recreated", "outcome": "ok", "changed": True},
    )
    assert set(FIELDS) <= set(line)
    assert line["outcome"] == "failed"
    assert line["release"] == "r7"
    assert line["changed"] is True
    assert line["duration_seconds"] == 12.346
    assert line["error"] == {"type": "GateError", "message": "service db is unhealthy", "exit_code": 4}
    raw = to_line(line)
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1
    assert json.loads(raw) == line


def test_reading_logs_skips_torn_lines_and_merges_hosts_by_operation_id() -> None:
    first = {"id": "a", "time": "2026-01-01T00:00:01.000Z"}
    second = {"id": "b", "time": "2026-01-01T00:00:02.000Z"}
    local, bad = parse(to_line(first) + b'{"id": "torn' + b"\n" + to_line(second))
    assert (local, bad) == ([first, second], 1)
    remote, _ = parse(to_line(second) + to_line({"id": "c", "time": "2026-01-01T00:00:03.000Z"}))
    assert [e["id"] for e in merge([local, remote])] == ["a", "b", "c"]
    assert [e["id"] for e in merge([local, remote], limit=2)] == ["b", "c"]
    assert "TIME" in table(merge([local]))
