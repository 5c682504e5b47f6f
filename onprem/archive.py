"""The backup archive, pure: members packed in a tar, encrypted with a password, checksummed.

Layout: MAGIC, version, scrypt salt, AES-GCM nonce, ciphertext (with its tag), then the SHA-256 of
everything before it. The checksum tells a corrupted file from a wrong password: a file whose checksum
holds but which does not decrypt was given the wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import tarfile
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from onprem.errors import ConfigError

MAGIC = b"ONPREMBK"
VERSION = 1
SALT_BYTES = 16
NONCE_BYTES = 12
DIGEST_BYTES = 32
HEADER_BYTES = len(MAGIC) + 1 + SALT_BYTES + NONCE_BYTES
MIN_PASSWORD = 12
MANIFEST = "manifest.json"


def _key(password: str, salt: bytes) -> bytes:
    # scrypt: memory-hard, so a stolen archive resists offline guessing.
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(password.encode())


def check_password(password: str) -> str:
    """The password if long enough. Raises ConfigError."""
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the backup password must be at least {MIN_PASSWORD} characters")
    return password


def pack(members: Mapping[str, bytes], manifest: Mapping[str, Any]) -> bytes:
    """A tar of the manifest (with each member's SHA-256) and the members, in name order."""
    listed = {**manifest, "members": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(members.items())}}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in [
            (MANIFEST, json.dumps(listed, indent=2, sort_keys=True).encode()),
            *sorted(members.items()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpack(blob: bytes, origin: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, members) of a decrypted tar, each member checked against the manifest.

    Raises ConfigError when the tar or a member is damaged.
    """
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as archive:
            for info in archive.getmembers():
                handle = archive.extractfile(info) if info.isfile() else None
                if handle is not None:
                    members[info.name] = handle.read()
        manifest = json.loads(members.pop(MANIFEST))
    except (tarfile.TarError, KeyError, ValueError) as exc:
        raise ConfigError(f"{origin}: the backup's contents are damaged ({exc})") from None
    listed = manifest.get("members", {}) if isinstance(manifest, dict) else {}
    for name, digest in listed.items():
        if name not in members or hashlib.sha256(members[name]).hexdigest() != digest:
            raise ConfigError(f"{origin}: member {name} of the backup is missing or damaged")
    return manifest, members


def encrypt(plain: bytes, password: str, *, salt: bytes | None = None, nonce: bytes | None = None) -> bytes:
    """The archive file's bytes for `plain` (random salt and nonce unless given, for tests)."""
    salt = salt or os.urandom(SALT_BYTES)
    nonce = nonce or os.urandom(NONCE_BYTES)
    header = MAGIC + bytes([VERSION]) + salt + nonce
    body = header + AESGCM(_key(password, salt)).encrypt(nonce, plain, header)
    return body + hashlib.sha256(body).digest()


def verify_checksum(data: bytes, origin: str) -> None:
    """Raise ConfigError unless `data` is a whole, unaltered onprem backup file."""
    if len(data) < HEADER_BYTES + 16 + DIGEST_BYTES or not data.startswith(MAGIC):
        raise ConfigError(
            f"{origin}: not an onprem backup (or truncated); give the file `onprem backup` wrote"
        )
    body, digest = data[:-DIGEST_BYTES], data[-DIGEST_BYTES:]
    if not hmac.compare_digest(hashlib.sha256(body).digest(), digest):
        raise ConfigError(f"{origin}: the backup is corrupted (checksum mismatch); nothing was restored")
    if data[len(MAGIC)] != VERSION:
        raise ConfigError(f"{origin}: backup format {data[len(MAGIC)]} is not supported by this onprem")


def decrypt(data: bytes, password: str, origin: str) -> bytes:
    """The plain tar of a backup file. Raises ConfigError for corruption or a wrong password."""
    verify_checksum(data, origin)
    header, body = data[:HEADER_BYTES], data[HEADER_BYTES:-DIGEST_BYTES]
    salt = header[len(MAGIC) + 1 : len(MAGIC) + 1 + SALT_BYTES]
    nonce = header[-NONCE_BYTES:]
    try:
        return AESGCM(_key(password, salt)).decrypt(nonce, body, header)
    except InvalidTag:
        raise ConfigError(
            f"{origin}: wrong backup password (the file's checksum is intact); give the password used for "
            "`onprem backup` with --password-file or --password-env"
        ) from None


def checksum_line(data: bytes, filename: str) -> str:
    """A `sha256sum`-style line for the file, written beside it."""
    return f"{hashlib.sha256(data).hexdigest()}  {filename}\n"
