"""The deployment lock, pure: who holds it (the holder record), whether that holder can still be running,
and the messages that say so.

A lock is a small JSON file created exclusively. Its holder is the onprem process that created it: user,
host (with the machine id that tells two hosts of the same name apart), pid, since when, which command
and why. Staleness is only ever known, never guessed: a lock is stale when its holder ran on a machine
whose processes can be checked from here (this machine, or a deployment host over its SSH connection)
and its pid is gone there. A holder on any other machine is reported as held, however old.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

PidCheck = Callable[[int], bool]
"""Whether a pid runs on one machine."""
Machine = tuple[str, str]
"""(host name, machine id): one machine."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock. `id` is the operation's id, which its audit lines carry too."""

    id: str
    user: str
    host: str
    machine: str
    pid: int
    time: str
    """When it was taken: UTC, ISO 8601."""
    command: str
    reason: str
    version: str
    """The onprem version that took it."""

    @property
    def where(self) -> Machine:
        return (self.host, self.machine)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: bytes) -> Holder | None:
        """The holder a lock file names, None when the file is not a lock onprem wrote."""
        try:
            raw = json.loads(data.decode("utf-8"))
            return cls(
                id=str(raw["id"]),
                user=str(raw["user"]),
                host=str(raw["host"]),
                machine=str(raw.get("machine", "")),
                pid=int(raw["pid"]),
                time=str(raw["time"]),
                command=str(raw["command"]),
                reason=str(raw.get("reason", "")),
                version=str(raw.get("version", "")),
            )
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError):
            return None


class LockState(StrEnum):
    FREE = "free"
    HELD = "held"
    """Its holder's process runs (checked)."""
    FOREIGN = "held-elsewhere"
    """Its holder ran on a machine whose processes cannot be checked from here: held, as far as known."""
    STALE = "stale"
    """Its holder ran where it can be checked, and its pid is gone."""
    UNREADABLE = "unreadable"
    """A lock file that is not a lock onprem wrote (or one cut short)."""


def judge(raw: bytes | None, checks: Mapping[Machine, PidCheck]) -> tuple[LockState, Holder | None]:
    """The state of a lock file's content (None: no lock), given the machines whose pids can be checked."""
    if raw is None:
        return LockState.FREE, None
    holder = Holder.from_json(raw)
    if holder is None:
        return LockState.UNREADABLE, None
    check = checks.get(holder.where)
    if check is None:
        return LockState.FOREIGN, holder
    return (LockState.HELD if check(holder.pid) else LockState.STALE), holder


def describe(holder: Holder) -> str:
    """`alice@laptop (pid 4242) since 2026-01-01T00:00:00Z, running `deploy` (reason: ...)`."""
    reason = f" (reason: {holder.reason})" if holder.reason else ""
    return (
        f"{holder.user}@{holder.host} (pid {holder.pid}) since {holder.time}, "
        f"running `{holder.command}`{reason}"
    )


def state_line(state: LockState, holder: Holder | None) -> str:
    """One line for `onprem lock status`."""
    if state is LockState.FREE:
        return "free"
    if state is LockState.UNREADABLE or holder is None:
        return "unreadable lock file (not written by onprem, or cut short): `onprem lock release --force`"
    if state is LockState.STALE:
        return f"stale: held by {describe(holder)}, a process that no longer runs"
    if state is LockState.FOREIGN:
        return f"held by {describe(holder)} (on another machine: its process cannot be checked from here)"
    return f"held by {describe(holder)}"


def refusal(project: str, location: str, state: LockState, holder: Holder | None, waited: float) -> str:
    """Why a command cannot take the lock, and the way out (the LockError message)."""
    after = f" after waiting {waited:g} s" if waited > 0 else ""
    head = f"deployment {project} is locked at {location}{after}: "
    if state is LockState.UNREADABLE or holder is None:
        return head + (
            "the lock file is not one onprem wrote (or was cut short); if no onprem command runs on this "
            "deployment, remove it with `onprem lock release --force`"
        )
    head += f"held by {describe(holder)}. "
    if state is LockState.FOREIGN:
        return head + (
            f"That process ran on {holder.host}, whose processes cannot be checked from here: wait for it "
            "(--lock-wait SECONDS), or, if it no longer runs there, `onprem lock release --force`"
        )
    return head + "Wait for it to finish (retry with --lock-wait SECONDS); `onprem lock status` shows it"


def waiting_line(location: str, holder: Holder | None, seconds: float) -> str:
    """The progress line of a command that waits (--lock-wait) for a lock."""
    whose = describe(holder) if holder is not None else "an unreadable lock file"
    return f"waiting up to {seconds:.0f} s for the lock at {location}, held by {whose}"


def stale_warning(location: str, holder: Holder) -> str:
    """The warning printed when a stale lock is broken."""
    return (
        f"warning: broke a stale lock at {location}: held by {describe(holder)}, "
        "a process that no longer runs (killed before it could release it)"
    )
