"""Database outages as a process sees them: logged once when they start and once when they end.

A process whose database is unreachable fails every operation (heartbeats each second, dispatcher
steps five times a second, every API request); a line per failure buries the one fact that matters.
`Availability` turns the stream of successes and failures into two log lines per outage:
`database unreachable (...)` at the first failure and `database reconnected after N s` at the first
success after it. It is also what the core's health probe reads. Thread-safe; the clock is injected.

`Reconnector` keeps callers from waiting on a database that does not answer: while it is down, a new
connection is attempted on a background thread (at most one at a time, one every `pause` seconds) and
callers are told at once whether one is ready. A connect to a host that vanished can hang for seconds
(a name lookup, a SYN with no answer); the web API must still answer 503 promptly meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("onprem.emulator.db")
C = TypeVar("C")


class Availability:
    """Whether the database answered this process's last operation, and since when it has not."""

    def __init__(self, what: str = "database", *, clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        """True from a failed operation until the next one that succeeds."""
        return self._down_since is not None

    def failed(self, reason: str) -> None:
        """An operation failed because the database could not be reached."""
        with self._lock:
            self._failures += 1
            if self._down_since is not None:
                return
            self._down_since = self._clock()
        log.warning("%s unreachable (%s); retrying, and logging again once it is back", self._what, reason)

    def succeeded(self) -> None:
        """An operation succeeded: an outage, if there was one, is over."""
        if self._down_since is None:  # the common case, without the lock
            return
        with self._lock:
            if self._down_since is None:
                return
            took, failures = self._clock() - self._down_since, self._failures
            self._down_since, self._failures = None, 0
        log.warning(
            "%s reconnected after %.1fs unreachable (%d operations failed meanwhile)",
            self._what,
            took,
            failures,
        )


class Reconnector(Generic[C]):
    """Connections made off the caller's thread while the database is down (see the module docstring)."""

    def __init__(
        self, connect: Callable[[], C], *, pause: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._connect = connect
        self._pause = pause
        self._clock = clock
        self._lock = threading.Lock()
        self._ready: C | None = None
        self._running = False
        self._last_try = float("-inf")

    def take(self) -> C | None:
        """A connection made since the last call, or None (an attempt is then started unless one runs
        or the last began less than `pause` seconds ago). Never blocks on the database."""
        with self._lock:
            ready, self._ready = self._ready, None
            if ready is not None:
                return ready
            if self._running or self._clock() - self._last_try < self._pause:
                return None
            self._running, self._last_try = True, self._clock()
        threading.Thread(target=self._attempt, name="db-reconnect", daemon=True).start()
        return None

    def _attempt(self) -> None:
        try:
            conn: C | None = self._connect()
        except Exception:  # any failure to connect means: still down, try again later
            conn = None
        with self._lock:
            self._ready, self._running = conn, False

    def discard(self) -> C | None:
        """The connection made but not taken (to close it), if any."""
        with self._lock:
            ready, self._ready = self._ready, None
        return ready
