"""The number's profile and business profile (`/v1/settings/profile/...`, `/v1/settings/business/profile`).

The photo is sent as the raw image body with its Content-Type (image/jpeg or image/png), as Meta's
docs show; `GET` answers the bytes, or with `format=link` a link to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onprem.api.transport import Endpoints

ABOUT = "/v1/settings/profile/about"
PHOTO = "/v1/settings/profile/photo"
BUSINESS = "/v1/settings/business/profile"


def _dig(body: dict[str, Any], *keys: str) -> Any:
    value: Any = body
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


class ProfileEndpoints(Endpoints):
    def get_about(self) -> str:
        """`GET /v1/settings/profile/about`: the about text. Raises ApiError."""
        text = _dig(self._json("GET", ABOUT), "settings", "profile", "about", "text")
        if not isinstance(text, str):
            raise self._shape_error(f"GET {ABOUT}", "`settings.profile.about.text`")
        return text

    def set_about(self, text: str) -> None:
        """`PATCH /v1/settings/profile/about {"text"}`. Raises ApiError (1009: too long)."""
        self.transport.send("PATCH", ABOUT, json={"text": text})

    def get_photo(self) -> tuple[bytes, str]:
        """`GET /v1/settings/profile/photo`: (image bytes, mime type). Raises ApiError (404: none set)."""
        answer = self.transport.send("GET", PHOTO)
        return answer.content, answer.headers.get("Content-Type", "application/octet-stream")

    def get_photo_link(self) -> str:
        """`GET /v1/settings/profile/photo?format=link`: the photo's link. Raises ApiError (404: none)."""
        link = _dig(
            self._json("GET", PHOTO, params={"format": "link"}), "settings", "profile", "photo", "link"
        )
        if not isinstance(link, str):
            raise self._shape_error(f"GET {PHOTO}?format=link", "`settings.profile.photo.link`")
        return link

    def set_photo(self, content: bytes, mime_type: str) -> None:
        """`POST /v1/settings/profile/photo` with the image as the body. Raises ApiError."""
        self.transport.send("POST", PHOTO, data=content, headers={"Content-Type": mime_type})

    def delete_photo(self) -> None:
        """`DELETE /v1/settings/profile/photo`. Raises ApiError."""
        self.transport.send("DELETE", PHOTO)

    def get_business_profile(self) -> dict[str, Any]:
        """`GET /v1/settings/business/profile`: the `settings.business.profile` object. Raises ApiError."""
        profile = _dig(self._json("GET", BUSINESS), "settings", "business", "profile")
        if not isinstance(profile, dict):
            raise self._shape_error(f"GET {BUSINESS}", "`settings.business.profile` object")
        return profile

    def set_business_profile(self, fields: Mapping[str, Any]) -> None:
        """`POST /v1/settings/business/profile` with the fields to set. Raises ApiError (1009 naming the
        bad fields)."""
        self.transport.send("POST", BUSINESS, json=dict(fields))
