"""The audit log, pure: the one JSON line a command that changes a deployment leaves on every host it
locked, reading those lines back, and the table `onprem audit` prints.

A line holds who (user, host, pid), when, which command and why, the config digest, the release, a plan
summary, the outcome (`ok`, `failed`, `aborted`), the error (class, message, exit code), the duration and
where the command held the lock (`locked`: this machine's state directory, then each host's directory).
Its fields are ids, digests, counts and operator-given words: never a secret value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from onprem.lock import Holder

Scalar = str | int | float | bool | None
"""What a workflow may note in an audit line: flat values, so no structure can carry a secret along."""

OK = "ok"
FAILED = "failed"
ABORTED = "aborted"
FIELDS = (
    "id",
    "time",
    "deployment",
    "user",
    "host",
    "pid",
    "command",
    "reason",
    "config_digest",
    "release",
    "plan",
    "outcome",
    "error",
    "duration_seconds",
    "locked",
    "version",
)
"""Every line has these keys (null when unknown); notes add others."""
RESERVED = frozenset(FIELDS) - {"config_digest", "release", "plan"}
"""Keys a note cannot set: they say what happened, not what a workflow thinks happened."""
MAX_MESSAGE = 500


def error_of(exc: BaseException | None, exit_code: int) -> dict[str, Any] | None:
    """The error part of a line: class, first `MAX_MESSAGE` characters of the message, exit code."""
    if exc is None:
        return None
    message = str(exc)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    return {"type": type(exc).__name__, "message": message, "exit_code": exit_code}


def entry(
    *,
    holder: Holder,
    deployment: str,
    outcome: str,
    error: dict[str, Any] | None,
    duration_seconds: float,
    locked: Sequence[str],
    notes: Mapping[str, Scalar],
) -> dict[str, Any]:
    """One audit line's document (pure)."""
    line: dict[str, Any] = {
        "id": holder.id,
        "time": holder.time,
        "deployment": deployment,
        "user": holder.user,
        "host": holder.host,
        "pid": holder.pid,
        "command": holder.command,
        "reason": holder.reason,
        "config_digest": None,
        "release": None,
        "plan": None,
        "outcome": outcome,
        "error": error,
        "duration_seconds": round(duration_seconds, 3),
        "locked": list(locked),
        "version": holder.version,
    }
    line.update({key: value for key, value in notes.items() if key not in RESERVED})
    return line


def to_line(document: Mapping[str, Any]) -> bytes:
    """The JSON line, newline included."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The entries of an audit file, and how many of its lines are unreadable (a line cut short by a
    crash, say)."""
    entries: list[dict[str, Any]] = []
    unreadable = 0
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(document, dict) and isinstance(document.get("id"), str):
            entries.append(document)
        else:
            unreadable += 1
    return entries, unreadable


def merge(logs: Iterable[Sequence[dict[str, Any]]], limit: int | None = None) -> list[dict[str, Any]]:
    """The entries of several hosts' logs, each operation once (by id), oldest first; the last `limit`."""
    seen: dict[str, dict[str, Any]] = {}
    for entries in logs:
        for document in entries:
            seen.setdefault(document["id"], document)
    # Stable: entries of one time keep the order their log wrote them in.
    ordered = sorted(seen.values(), key=lambda document: str(document.get("time", "")))
    return ordered[-limit:] if limit else ordered


def table(entries: Sequence[Mapping[str, Any]]) -> str:
    """The human view: one line per entry, newest last."""
    lines = [f"{'TIME':<24} {'WHO':<28} {'COMMAND':<18} {'OUTCOME':<8} {'SECONDS':>8}  DETAIL"]
    for document in entries:
        who = f"{document.get('user')}@{document.get('host')}"
        detail = []
        if document.get("release"):
            detail.append(f"release {document['release']}")
        if document.get("plan"):
            detail.append(str(document["plan"]))
        if document.get("reason"):
            detail.append(f"reason: {document['reason']}")
        error = document.get("error")
        if isinstance(error, dict):
            first = str(error.get("message") or "").splitlines()[:1]
            detail.append(f"{error.get('type')} (exit {error.get('exit_code')}): {''.join(first)}")
        lines.append(
            f"{document.get('time', '?'):<24} {who:<28} {document.get('command', '?'):<18} "
            f"{document.get('outcome', '?'):<8} {document.get('duration_seconds', 0):>8}  {'; '.join(detail)}"
        )
    return "\n".join(lines)
