"""Database outages as a process sees them: logged once when they start and once when they end.

A process whose database is unreachable fails every operation (heartbeats each second, dispatcher
steps five times a second, every API request); a line per failure buries the one fact that matters.
`Availability` turns the stream of successes and failures into two log lines per outage:
`database unreachable (...)` at the first failure and `database reconnected after N s` at the first
success after it. It is also what the core's health probe reads. Thread-safe; the clock is injected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("onprem.emulator.db")


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
