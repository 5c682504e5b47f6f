"""A record of the two-step PIN the tool set, so `migrate cloud` can check a PIN before Meta sees it.

A wrong PIN in the Cloud API's `register` takes the On-Prem deployment down, and the client has no call
that checks a PIN. So `onprem two-step enable` keeps a salted scrypt hash of the PIN it set (0600, never
the PIN), and `pin_matches` compares a candidate with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime
from pathlib import Path

from onprem.state import read_json, write_json

_N, _R, _P = 2**14, 8, 1


def _hash(pin: str, salt: bytes) -> str:
    return hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


def record_pin(path: Path, pin: str, now: datetime) -> None:
    """Keep a salted hash of `pin` in `path` (0600). Raises StateError."""
    salt = os.urandom(16)
    write_json(path, {"salt": salt.hex(), "scrypt": _hash(pin, salt), "set": now.isoformat()}, private=True)


def forget_pin(path: Path) -> None:
    """Drop the record (two-step disabled: there is no PIN any more)."""
    path.unlink(missing_ok=True)


def pin_matches(path: Path, pin: str) -> tuple[bool | None, str]:
    """(whether `pin` is the recorded one, None when no PIN was recorded; when it was set).
    Raises StateError when the record is unreadable."""
    record = read_json(path, "the two-step PIN record")
    if not isinstance(record, dict) or not {"salt", "scrypt"} <= set(record):
        return None, ""
    try:
        salt = bytes.fromhex(str(record["salt"]))
    except ValueError:
        return None, ""
    same = hmac.compare_digest(_hash(pin, salt), str(record["scrypt"]))
    return same, str(record.get("set", ""))
