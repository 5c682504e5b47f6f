"""Test doubles for the emulator, shipped so other packages' tests can run it in-process.

`FakeClock` drives token expiry and heartbeat ages; `sqlite_store` opens a ready store on a file;
`core_heartbeat` and `register` are the test-only channels into the state that the real API fills in
later slices (core processes, the registration flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onprem.emulator.dbconnect import Dialect, open_sqlite
from onprem.emulator.passwords import hash_password
from onprem.emulator.store import Registration, Store

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed, readable origin for fake time


@dataclass
class FakeClock:
    """A settable epoch-seconds clock: call it for the time, `advance` to move it."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sqlite_store(path: Path, *, now: float = START, admin_password: str = "secret") -> Store:  # noqa: S107
    """A store on SQLite file `path` with its schema and the default admin (must change password)."""
    store = Store(lambda: open_sqlite(path), Dialect("SQLITE"))
    store.ensure_schema(admin_password_hash=hash_password(admin_password), now=now)
    return store


def core_heartbeat(store: Store, hostname: str, *, now: float, kind: str = "coreapp", cid: str = "") -> str:
    """Record a heartbeat for a core node as a running `onprem emulator core` would; returns its id."""
    node_id = f"{hostname}:{cid or '0123456789ab'}"
    store.heartbeat(node_id, hostname, kind, started_at=now, now=now)
    return node_id


def register(
    store: Store, *, state: str = "registered", cc: str = "1", phone_number: str = "6315550000"
) -> None:
    """Set the number's registration state directly (the account API arrives in a later slice)."""
    store.set_registration(Registration(state=state, cc=cc, phone_number=phone_number))
