"""`onprem profile` / `business-profile` workflows: local checks name the option before any request,
a change merges over the current business profile, and a missing photo shows as none."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from onprem.errors import ApiError, ConfigError
from onprem.workflows import profile
from tests.contracts.profile import tiny_png


class FakeProfileApi:
    def __init__(self) -> None:
        self.about = ""
        self.photo: tuple[bytes, str] | None = None
        self.business: dict[str, Any] = {"address": "old", "email": "a@b.co", "websites": []}
        self.calls: list[str] = []

    def get_about(self) -> str:
        return self.about

    def set_about(self, text: str) -> None:
        self.calls.append("set_about")
        self.about = text

    def get_photo(self) -> tuple[bytes, str]:
        if self.photo is None:
            raise ApiError("GET photo answered HTTP 404", status=404, code=1006)
        return self.photo

    def set_photo(self, content: bytes, mime_type: str) -> None:
        self.calls.append("set_photo")
        self.photo = (content, mime_type)

    def delete_photo(self) -> None:
        self.photo = None

    def get_business_profile(self) -> dict[str, Any]:
        return dict(self.business)

    def set_business_profile(self, fields: Mapping[str, Any]) -> None:
        self.calls.append("set_business_profile")
        self.business = dict(fields)


def test_show_without_a_photo_says_none_and_with_one_gives_type_size_and_digest(tmp_path: Path) -> None:
    api = FakeProfileApi()
    assert profile.show_profile(api) == {"about": "", "photo": None}
    (tmp_path / "p.png").write_bytes(tiny_png())
    done = profile.set_photo(api, tmp_path / "p.png")
    assert profile.show_profile(api)["photo"] == done
    assert done["mime_type"] == "image/png"
    assert done["size"] == len(tiny_png())


def test_a_photo_that_is_not_jpeg_or_png_is_refused_naming_the_file(tmp_path: Path) -> None:
    api = FakeProfileApi()
    gif = tmp_path / "logo.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 20)
    with pytest.raises(ConfigError, match=r"logo\.gif is neither a JPEG nor a PNG"):
        profile.set_photo(api, gif)
    with pytest.raises(ConfigError, match="cannot read the photo"):
        profile.set_photo(api, tmp_path / "missing.png")
    assert api.calls == []


def test_about_longer_than_139_characters_is_refused_before_any_request() -> None:
    api = FakeProfileApi()
    with pytest.raises(ConfigError, match="140 characters"):
        profile.set_about(api, "x" * 140)
    assert api.calls == []


def test_business_changes_name_every_bad_option() -> None:
    with pytest.raises(ConfigError) as caught:
        profile.business_changes(
            email="nope",
            address="a" * 257,
            websites=["https://a.example", "ftp://b.example", "https://c.example"],
        )
    text = str(caught.value)
    for fragment in ("--address is 257", "--email 'nope'", "--website given 3 times", "'ftp://b.example'"):
        assert fragment in text
    with pytest.raises(ConfigError, match="give at least one of"):
        profile.business_changes()


def test_business_set_merges_over_the_current_profile() -> None:
    api = FakeProfileApi()
    done = profile.set_business(api, profile.business_changes(vertical="Retail"))
    assert done == {
        "address": "old",
        "description": "",
        "email": "a@b.co",
        "vertical": "Retail",
        "websites": [],
    }
    assert api.business == done
