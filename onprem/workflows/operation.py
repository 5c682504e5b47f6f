"""One command that changes a deployment, as an operation: it holds the deployment's lock on this machine
and on every host, and leaves one audit line on each.

    with operation(deployment, "deploy", reason=reason, lock_wait=30) as op:
        result = deploy(deployment)
        op.note(release=result.release, plan="2 services recreated")

The lock is taken in one fixed order (this machine's state directory, then each remote host's directory of
the deployment), so two commands never wait for each other crosswise. A lock whose holder is known to be
gone (its pid no longer runs on the machine it ran on) is broken with a warning: a command killed with
SIGKILL leaves its lock behind, and the next run converges. A live holder, or one on a machine that cannot
be checked from here, fails the command with LockError (after `lock_wait` seconds of polling). On the way
out (success, error, Ctrl-C) the audit line is appended everywhere the lock was held, then each lock is
released.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from onprem import __version__
from onprem.audit import ABORTED, FAILED, OK, RESERVED, Scalar, entry, error_of, to_line
from onprem.deployment import Deployment
from onprem.engine.hosts import HostsEngine
from onprem.errors import LockError, OnpremError
from onprem.hostfiles import HostFiles, LocalFiles
from onprem.lock import (
    Holder,
    LockState,
    Machine,
    PidCheck,
    judge,
    refusal,
    stale_warning,
    waiting_line,
)
from onprem.state import AUDIT_FILE, LOCK_FILE

POLL_SECONDS = 0.5
"""How often a command waiting for the lock (--lock-wait) looks again."""
INTERRUPTED = 130


@dataclass(frozen=True)
class Caller:
    """The process that takes the lock: its user and pid (the host is the state directory's)."""

    user: str
    pid: int

    @classmethod
    def current(cls, environ: Mapping[str, str]) -> Caller:
        """This process; under sudo, the user who ran sudo as well as the one it runs as."""
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = f"uid-{os.getuid()}"
        invoker = environ.get("SUDO_USER")
        if invoker and invoker != user:
            user = f"{invoker} as {user}"
        return cls(user, os.getpid())


def places(deployment: Deployment, *, local_only: bool = False) -> list[HostFiles]:
    """Where the deployment's lock and audit log are, in locking order: this machine's state directory,
    then each remote host's directory of the deployment (none for a local engine, or when `local_only`)."""
    here: list[HostFiles] = [LocalFiles(deployment.state.root)]
    if local_only:
        return here
    if isinstance(deployment.engine, HostsEngine):
        return [*here, *deployment.engine.every_host_files(deployment.project)]
    remote = deployment.engine.host_files(deployment.project)
    return here if remote is None else [*here, remote]


def checks(targets: Sequence[HostFiles]) -> dict[Machine, PidCheck]:
    """The machines whose processes can be checked from here: each place's host (the first wins when two
    places are on one machine). Raises EngineError when a remote host cannot be reached."""
    found: dict[Machine, PidCheck] = {}
    for place in targets:
        found.setdefault((place.host, place.machine_id), place.pid_alive)
    return found


def utc_iso(moment: datetime) -> str:
    """`2026-01-01T00:00:00.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def config_digest(deployment: Deployment) -> str:
    """sha256 of the effective settings (secret sources, never secret values)."""
    return hashlib.sha256(deployment.settings.model_dump_json().encode("utf-8")).hexdigest()


class Operation:
    """The running operation: its holder record and what workflows note for its audit line."""

    def __init__(self, holder: Holder, notes: Mapping[str, Scalar]) -> None:
        self.holder = holder
        self.notes: dict[str, Scalar] = dict(notes)

    @property
    def id(self) -> str:
        return self.holder.id

    def note(self, **fields: Scalar) -> None:
        """Add fields to the audit line, e.g. `release`, `config_digest`, `plan` (a one-line summary),
        `changed`. Flat values only, and never a secret. Raises ValueError for a field the operation
        itself writes (time, user, outcome, ...)."""
        taken = sorted(set(fields) & RESERVED)
        if taken:
            raise ValueError(f"audit fields {', '.join(taken)} are written by the operation itself")
        # A value read with getattr may be an object (a release, say): its str() is its name.
        self.notes.update({key: _flat(value) for key, value in fields.items()})


def _flat(value: object) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@contextmanager
def operation(
    deployment: Deployment,
    command: str,
    *,
    reason: str = "",
    lock_wait: float = 0.0,
    local_only: bool = False,
    aborted_by: tuple[type[BaseException], ...] = (),
    where: Sequence[HostFiles] | None = None,
    caller: Caller | None = None,
) -> Iterator[Operation]:
    """Hold the deployment's lock everywhere for the block, and audit it.

    `local_only`: lock this machine's state directory only (a command that touches no host). `aborted_by`:
    exceptions besides KeyboardInterrupt that mean the operator stopped the command (a declined prompt).
    `where` and `caller` replace the places and the process identity (tests).

    Raises LockError when another holder keeps a lock past `lock_wait` seconds; StateError or EngineError
    when a lock cannot be written. Whatever the block raises is re-raised after the audit line is written
    and the locks are released."""
    targets = list(where) if where is not None else places(deployment, local_only=local_only)
    me = caller or Caller.current(deployment.environ)
    here = targets[0]
    holder = Holder(
        id=uuid.uuid4().hex,
        user=me.user,
        host=here.host,
        machine=here.machine_id,
        pid=me.pid,
        time=utc_iso(deployment.now()),
        command=command,
        reason=reason,
        version=__version__,
    )
    started = deployment.clock()
    held = _acquire_all(deployment, targets, holder, lock_wait)
    current = Operation(holder, {"config_digest": config_digest(deployment)})
    outcome, error = OK, None
    try:
        yield current
    except BaseException as exc:
        outcome, error = _outcome(exc, aborted_by)
        raise
    finally:
        line = entry(
            holder=holder,
            deployment=deployment.project,
            outcome=outcome,
            error=error,
            duration_seconds=deployment.clock() - started,
            locked=[place.location for place in held],
            notes=current.notes,
        )
        _finish(deployment, held, holder, to_line(line))


def _outcome(exc: BaseException, aborted_by: tuple[type[BaseException], ...]) -> tuple[str, Any]:
    if isinstance(exc, (KeyboardInterrupt, GeneratorExit, *aborted_by)):
        return ABORTED, error_of(exc, INTERRUPTED)
    code = exc.exit_code if isinstance(exc, OnpremError) else 1
    return FAILED, error_of(exc, code)


def _acquire_all(
    deployment: Deployment, targets: Sequence[HostFiles], holder: Holder, lock_wait: float
) -> list[HostFiles]:
    """Take the lock at every place in order; on any failure (Ctrl-C included) give back what was taken."""
    deadline = deployment.clock() + max(lock_wait, 0.0)
    held: list[HostFiles] = []
    try:
        for place in targets:
            _acquire(deployment, place, targets, holder, deadline, lock_wait)
            held.append(place)
    except BaseException:
        for place in reversed(held):
            _release_quietly(deployment, place, holder)
        raise
    return held


def _acquire(
    deployment: Deployment,
    place: HostFiles,
    targets: Sequence[HostFiles],
    holder: Holder,
    deadline: float,
    lock_wait: float,
) -> None:
    told = False
    # The lock says since when it is held: after a wait, that is now, not when the command started.
    while not place.create(LOCK_FILE, replace(holder, time=utc_iso(deployment.now())).to_json()):
        raw = place.read(LOCK_FILE)
        if raw is None:
            continue  # released between our attempt and the read: try again at once
        state, other = judge(raw, checks(targets))
        if state is LockState.STALE and other is not None:
            # Only the lock that was judged is removed, not one another command took meanwhile.
            if place.read(LOCK_FILE) == raw:
                place.remove(LOCK_FILE)
                deployment.progress(stale_warning(place.location, other))
            continue
        remaining = deadline - deployment.clock()
        if remaining <= 0:
            raise LockError(refusal(deployment.project, place.location, state, other, lock_wait))
        if not told:
            deployment.progress(waiting_line(place.location, other, remaining))
            told = True
        deployment.sleep(min(POLL_SECONDS, remaining))


def release(place: HostFiles, holder_id: str | None = None) -> bool:
    """Remove the lock at `place` if it is still the one with `holder_id` (any lock when None); whether
    it removed one. Raises StateError or EngineError."""
    raw = place.read(LOCK_FILE)
    if raw is None:
        return False
    if holder_id is not None:
        other = Holder.from_json(raw)
        if other is None or other.id != holder_id:
            return False
    place.remove(LOCK_FILE)
    return True


def _release_quietly(deployment: Deployment, place: HostFiles, holder: Holder) -> None:
    try:
        release(place, holder.id)
    except OnpremError as exc:
        deployment.progress(
            f"warning: could not release the lock at {place.location} ({exc}); the next command will "
            "find it stale and break it, or run `onprem lock release`"
        )


def _finish(deployment: Deployment, held: Sequence[HostFiles], holder: Holder, line: bytes) -> None:
    """Append the audit line where the lock is held, then release the locks (last taken first). A place
    that fails is reported, not raised: the command's own outcome stands."""
    for place in held:
        try:
            place.append(AUDIT_FILE, line)
        except OnpremError as exc:
            deployment.progress(f"warning: could not append to the audit log at {place.location}: {exc}")
    for place in reversed(held):
        _release_quietly(deployment, place, holder)
