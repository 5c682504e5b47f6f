"""The profile and business-profile contract, written once against an `ApiClient` and run twice: on the
emulator in-process (tests/unit/api/test_profile_contract.py) and on a deployed stack
(tests/integration/ops/test_profile_and_send.py). It goes through the workflows the CLI calls, so it
covers the requests the tool sends and the answers the emulator gives."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from onprem.api.client import ApiClient
from onprem.errors import ApiError
from onprem.workflows import profile


def tiny_png(rgb: tuple[int, int, int] = (37, 211, 102)) -> bytes:
    """A valid 1x1 PNG of colour `rgb`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(rgb))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def check_profile_contract(api: ApiClient, workdir: Path) -> None:
    """About, photo and business profile round trips, and one refusal each (nothing changed by it)."""
    about = "Open 9-17 CET; ask us anything"
    assert profile.set_about(api, about) == {"about": about}
    assert profile.show_profile(api)["about"] == about
    with pytest.raises(ApiError) as refused:
        api.set_about("x" * 140)
    assert (refused.value.status, refused.value.code) == (400, 1009)
    assert api.get_about() == about

    photo = workdir / "logo.png"
    photo.write_bytes(tiny_png())
    uploaded = profile.set_photo(api, photo)
    shown = profile.show_profile(api)["photo"]
    assert shown == uploaded
    assert shown["mime_type"] == "image/png"
    assert api.get_photo()[0] == photo.read_bytes()
    assert api.get_photo_link().startswith("https://")
    with pytest.raises(ApiError) as bad_photo:
        api.set_photo(b"GIF89a-not-a-photo", "image/gif")
    assert (bad_photo.value.status, bad_photo.value.code) == (400, 1009)
    assert profile.delete_photo(api) == {"photo": "deleted"}
    assert profile.show_profile(api)["photo"] is None

    changes = profile.business_changes(
        address="1 Main St, Springfield",
        email="help@example.com",
        websites=["https://example.com", "https://shop.example.com"],
    )
    set_all = profile.set_business(api, changes)
    assert profile.show_business(api) == set_all
    kept = profile.set_business(api, profile.business_changes(vertical="Retail"))
    assert kept["email"] == "help@example.com"
    assert kept["vertical"] == "Retail"
    with pytest.raises(ApiError) as bad_business:
        api.set_business_profile(
            {"websites": ["https://a.example", "https://b.example", "https://c.example"]}
        )
    assert (bad_business.value.status, bad_business.value.code) == (400, 1009)
    assert "websites" in bad_business.value.details
    assert profile.show_business(api) == kept
