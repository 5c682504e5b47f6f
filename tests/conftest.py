"""Shared fixtures: where the reference material lives, and the rule that CI never skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ONPREM_SHARED", ROOT.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    """Fail under CI, skip elsewhere, when a test's real engine or material is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing under CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def reference() -> Path:
    """../shared/reference (read-only facts and fixtures nobody on the team wrote)."""
    path = SHARED / "reference"
    require(path.is_dir(), f"{path} is not there; tests read the shared reference material from it")
    return path
