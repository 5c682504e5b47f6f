"""The verified-name certificate the emulator accepts in `POST /v1/account` (`cert`), decoded purely.

Meta's certificate is base64 of protobuf bytes: `VerifiedNameCertificate {bytes details = 1; bytes
signature = 2}` whose `details` is `VerifiedNameDetails {uint64 serial = 1; string issuer = 2;
string verified_name = 4; ...}`. The emulator reads exactly that layout (the signature is not checked:
there is no Meta key to check it against), and, to make test certificates easy to write, also base64
of a JSON object `{"verified_name": "<name>"}` (or `"vname"`). Anything else is invalid (error 1009).
`encode_cert` writes the protobuf form, so the tool's tests can build certificates without Meta.
"""

from __future__ import annotations

import base64
import binascii
import json

MAX_NAME = 256


class CertError(ValueError):
    """The certificate is not base64 of a verified-name certificate carrying a display name."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise CertError("truncated or oversized varint")


def _fields(data: bytes) -> dict[int, bytes | int]:
    """The fields of one protobuf message (last occurrence wins). Raises CertError if malformed."""
    fields: dict[int, bytes | int] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CertError("field number 0")
        if wire == 0:
            fields[number], pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise CertError("truncated field")
            fields[number] = data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise CertError("truncated field")
            pos += size
        else:
            raise CertError(f"unsupported wire type {wire}")
    return fields


def _clean(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise CertError("the certificate carries no usable verified name")
    return name.strip()


def _from_protobuf(raw: bytes) -> str:
    details = _fields(raw).get(1)
    if not isinstance(details, bytes):
        raise CertError("no details in the certificate")
    name = _fields(details).get(4)
    if not isinstance(name, bytes):
        raise CertError("no verified_name in the certificate details")
    try:
        return _clean(name.decode("utf-8"))
    except UnicodeDecodeError:
        raise CertError("verified_name is not UTF-8") from None


def decode_vname(cert: str) -> str:
    """The display name carried by base64 certificate `cert`. Raises CertError when it has none."""
    try:
        raw = base64.b64decode(cert.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CertError("the certificate is not base64") from None
    if not raw:
        raise CertError("the certificate is empty")
    if raw.lstrip().startswith(b"{"):
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise CertError("the certificate is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise CertError("the certificate is not a JSON object")
        return _clean(parsed.get("verified_name", parsed.get("vname")))
    return _from_protobuf(raw)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def encode_cert(vname: str, *, serial: int = 1, issuer: str = "smb:wa") -> str:
    """A base64 certificate in the protobuf layout above, carrying `vname` (for tests and demos)."""
    details = (
        _encode_varint(1 << 3) + _encode_varint(serial)
        + _bytes_field(2, issuer.encode("utf-8"))
        + _bytes_field(4, vname.encode("utf-8"))
    )  # fmt: skip
    certificate = _bytes_field(1, details) + _bytes_field(2, b"\x00" * 64)
    return base64.b64encode(certificate).decode("ascii")
