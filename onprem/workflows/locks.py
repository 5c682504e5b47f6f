"""`onprem lock status`, `onprem lock release` and `onprem audit`: the deployment's locks and audit logs
on this machine and on each host, seen and handled from the operator's side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onprem.audit import merge, parse
from onprem.deployment import Deployment
from onprem.errors import LockError, OnpremError
from onprem.hostfiles import HostFiles
from onprem.lock import Holder, LockState, describe, judge, state_line
from onprem.state import AUDIT_FILE, LOCK_FILE
from onprem.workflows.operation import Caller, checks, places, release


def _row(place: HostFiles, state: LockState, holder: Holder | None) -> dict[str, Any]:
    return {
        "location": place.location,
        "host": place.host,
        "state": state.value,
        "holder": holder.as_dict() if holder is not None else None,
        "summary": state_line(state, holder),
    }


def lock_status(deployment: Deployment, *, where: Sequence[HostFiles] | None = None) -> dict[str, Any]:
    """Each place's lock: free, held (by whom, since when), held elsewhere, stale or unreadable.

    Raises StateError, or EngineError when a host cannot be reached."""
    targets = list(where) if where is not None else places(deployment)
    known = checks(targets)
    rows = [_row(place, *judge(place.read(LOCK_FILE), known)) for place in targets]
    return {"deployment": deployment.project, "locks": rows}


def release_locks(
    deployment: Deployment,
    *,
    force: bool,
    where: Sequence[HostFiles] | None = None,
    caller: Caller | None = None,
) -> dict[str, Any]:
    """Remove the deployment's locks: without `force` only stale ones and the caller's own (same user on
    the same machine); with `force` any, saying whose each was. Nothing is removed when one lock may not be.

    Raises LockError naming a live holder (without `force`), StateError or EngineError."""
    targets = list(where) if where is not None else places(deployment)
    me = caller or Caller.current(deployment.environ)
    known = checks(targets)
    here = (targets[0].host, targets[0].machine_id)
    decided: list[tuple[HostFiles, bytes, LockState, Holder | None]] = []
    refused: list[str] = []
    for place in targets:
        raw = place.read(LOCK_FILE)
        state, holder = judge(raw, known)
        if raw is None:
            continue
        own = holder is not None and holder.user == me.user and holder.where == here
        if not (force or state is LockState.STALE or own):
            refused.append(f"{place.location}: {state_line(state, holder)}")
        decided.append((place, raw, state, holder))
    if refused:
        raise LockError(
            "not released (the holder may still run): "
            + "; ".join(refused)
            + ". If you are sure no onprem command runs on this deployment, `onprem lock release --force`"
        )
    rows = []
    for place, raw, state, holder in decided:
        # Only the lock that was judged: a command that took the lock since keeps it.
        removed = place.read(LOCK_FILE) == raw and release(place)
        if removed:
            whose = describe(holder) if holder is not None else "nobody onprem knows (unreadable)"
            stale = "stale " if state is LockState.STALE else ""
            deployment.progress(f"released the {stale}lock at {place.location}, held by {whose}")
        rows.append({**_row(place, state, holder), "released": removed})
    return {"deployment": deployment.project, "released": rows}


def read_audit(
    deployment: Deployment, *, limit: int | None = None, where: Sequence[HostFiles] | None = None
) -> dict[str, Any]:
    """The audit entries of this machine and of each host (each operation once, oldest first), the last
    `limit` of them. A host that cannot be read is reported and skipped. Raises StateError for this
    machine's log."""
    targets = list(where) if where is not None else places(deployment)
    logs = []
    sources: list[str] = []
    unreadable = 0
    for index, place in enumerate(targets):
        try:
            data = place.read(AUDIT_FILE) or b""
        except OnpremError as exc:
            if index == 0:
                raise
            deployment.progress(f"warning: cannot read the audit log at {place.location}: {exc}")
            continue
        entries, bad = parse(data)
        logs.append(entries)
        sources.append(place.location)
        unreadable += bad
    return {
        "deployment": deployment.project,
        "entries": merge(logs, limit),
        "sources": sources,
        "unreadable_lines": unreadable,
    }
