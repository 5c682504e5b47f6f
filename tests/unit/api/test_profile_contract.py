"""The profile contract (tests/contracts/profile.py) on the emulator in-process, through the real
ApiClient over HTTPS with the emulator's CA pinned."""

from __future__ import annotations

from pathlib import Path

from onprem.emulator.testing import FakeClock, sqlite_store
from tests.contracts.profile import check_profile_contract
from tests.unit.api.live_emulator import live_emulator


def test_profile_and_business_profile_contract_on_the_emulator(tmp_path: Path) -> None:
    clock = FakeClock()
    store = sqlite_store(tmp_path / "waent.sqlite3", now=clock())
    try:
        with live_emulator(store, tmp_path, clock=clock) as emulator:
            check_profile_contract(emulator.admin(), tmp_path)
    finally:
        store.close()
