"""Password rules and hashing for the emulator's users (pure functions, no I/O).

Hashes are scrypt with a random salt, encoded as `scrypt$n$r$p$salt$hash` (base64), so the cost can be
raised later without breaking stored hashes. Verification compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import string

MIN_LENGTH, MAX_LENGTH = 8, 64
# The documented set of special characters a password must contain one of.
SPECIALS = "!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DKLEN = 32


def password_problems(password: str) -> list[str]:
    """What `password` lacks under the client's rules (8-64 characters, a digit, an upper-case and a
    lower-case letter, one of the special characters). Empty when it is acceptable."""
    problems = []
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problems.append(f"be {MIN_LENGTH}-{MAX_LENGTH} characters long")
    if not any(c in string.digits for c in password):
        problems.append("contain a digit")
    if not any(c in string.ascii_uppercase for c in password):
        problems.append("contain an upper-case letter")
    if not any(c in string.ascii_lowercase for c in password):
        problems.append("contain a lower-case letter")
    if not any(c in SPECIALS for c in password):
        problems.append(f"contain one of {SPECIALS}")
    return problems


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of `password` in the self-describing format above."""
    salt = salt if salt is not None else os.urandom(16)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded` (False for a malformed hash, never an exception)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
