"""Settings backups: what `POST /v1/settings/backup` exports and how it is encrypted (pure).

The blob is base64 of `OPEMU1 | salt(16) | check(16) | nonce(12) | AES-256-GCM(ciphertext+tag)`.
The key is scrypt(password, salt); `check` (a hash of a second half of the scrypt output) tells a wrong
password apart from a damaged blob, so each gets its own clear error. Like the real client's backup it
carries settings and registration, never messages or callbacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OPEMU1"
_SALT, _CHECK, _NONCE = 16, 16, 12
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class BackupError(ValueError):
    """The backup cannot be restored."""


class WrongPassword(BackupError):
    """The password is not the one the backup was made with."""


class CorruptedBackup(BackupError):
    """The data is not a backup, or it was damaged."""


def _keys(password: str, salt: bytes) -> tuple[bytes, bytes]:
    material = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=64, **_SCRYPT)
    return material[:32], hashlib.sha256(b"onprem-emulator-backup-check" + material[32:]).digest()[:_CHECK]


def encrypt(password: str, payload: dict[str, Any], *, salt: bytes | None = None) -> str:
    """The encrypted, base64 backup blob of `payload` under `password`."""
    salt = salt if salt is not None else os.urandom(_SALT)
    key, check = _keys(password, salt)
    nonce = os.urandom(_NONCE)
    plain = json.dumps(payload, sort_keys=True).encode("utf-8")
    sealed = AESGCM(key).encrypt(nonce, plain, MAGIC)
    return base64.b64encode(MAGIC + salt + check + nonce + sealed).decode("ascii")


def decrypt(password: str, data: str) -> dict[str, Any]:
    """The payload of backup `data`. Raises WrongPassword or CorruptedBackup."""
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CorruptedBackup("the backup data is not base64") from None
    header = len(MAGIC) + _SALT + _CHECK + _NONCE
    if not raw.startswith(MAGIC) or len(raw) < header + 16:
        raise CorruptedBackup("the backup data is not a backup of this client or is truncated")
    salt = raw[len(MAGIC) : len(MAGIC) + _SALT]
    check = raw[len(MAGIC) + _SALT : len(MAGIC) + _SALT + _CHECK]
    nonce = raw[header - _NONCE : header]
    key, expected = _keys(password, salt)
    if not hmac.compare_digest(check, expected):
        raise WrongPassword("wrong password for this backup")
    try:
        plain = AESGCM(key).decrypt(nonce, raw[header:], MAGIC)
        payload = json.loads(plain)
    except (InvalidTag, ValueError):
        raise CorruptedBackup("the backup data is damaged (authentication failed)") from None
    if not isinstance(payload, dict) or payload.get("version") != 1:
        raise CorruptedBackup("the backup has an unknown format")
    return payload
