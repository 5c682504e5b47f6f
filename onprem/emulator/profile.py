"""The number's profile (about text, photo) and business profile: the documented rules (pure) and
their rows in the shared database.

Limits (the Postman collection's schemas, reference `onprem-openapi-unofficial.yaml`): about text at
most 139 characters; business `address` and `description` 256, `email` and `vertical` 128, at most 2
`websites` of 256 each. A photo is a JPEG or PNG (checked by its leading bytes, not only the
Content-Type) of at most `MAX_PHOTO` bytes. Every check names every bad field at once, so one answer
says all that must change.

State is kept as rows of `settings` (`profile.about`, `business.profile`, `profile.photo`: the photo's
mime type, size and SHA-256), so no table changes and every schema keeps it; the photo's bytes live
beside uploaded media in the media directory, as the real client keeps media on its media volume.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from onprem.emulator.store import Store

ABOUT_KEY = "profile.about"
BUSINESS_KEY = "business.profile"
PHOTO_KEY = "profile.photo"

MAX_ABOUT = 139
MAX_PHOTO = 5 * 1024 * 1024  # the emulator's limit on a profile photo upload
MAX_WEBSITES = 2
BUSINESS_LIMITS = {"address": 256, "description": 256, "email": 128, "vertical": 128}
BUSINESS_FIELDS = (*BUSINESS_LIMITS, "websites")
MAX_WEBSITE = 256
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHOTO_SIGNATURES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


class ProfileError(ValueError):
    """A profile change the client refuses; `missing` when a required field is absent (1008), else a bad
    value (1009). `problems` names each field and what is wrong with it."""

    def __init__(self, problems: list[str], *, missing: bool = False) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.missing = missing


@dataclass(frozen=True)
class Photo:
    """The stored profile photo's description (its bytes are a file in the media directory)."""

    mime_type: str
    size: int
    sha256: str
    set_at: float

    def as_dict(self) -> dict[str, Any]:
        return {"mime_type": self.mime_type, "size": self.size, "sha256": self.sha256, "set_at": self.set_at}


def check_about(body: dict[str, Any]) -> str:
    """The about text of a `PATCH /v1/settings/profile/about` body. Raises ProfileError."""
    if "text" not in body:
        raise ProfileError(["text is required"], missing=True)
    problems = [f"unknown field {key!r}" for key in sorted(body) if key != "text"]
    text = body["text"]
    if not isinstance(text, str):
        problems.append("text must be a string")
    elif len(text) > MAX_ABOUT:
        problems.append(f"text is {len(text)} characters; at most {MAX_ABOUT}")
    if problems:
        raise ProfileError(problems)
    return str(text)


def _check_websites(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(site, str) for site in value):
        return ["websites must be a list of URLs"]
    problems = []
    if len(value) > MAX_WEBSITES:
        problems.append(f"websites has {len(value)} entries; at most {MAX_WEBSITES}")
    for site in value:
        if len(site) > MAX_WEBSITE:
            problems.append(f"website {site[:40]!r}... is longer than {MAX_WEBSITE} characters")
        elif not site.startswith(("https://", "http://")):
            problems.append(f"website {site!r} must start with http:// or https://")
    return problems


def check_business(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a `POST /v1/settings/business/profile` body, checked. Raises ProfileError (missing
    when it names no field at all)."""
    given = {key: value for key, value in body.items() if key in BUSINESS_FIELDS}
    if not given and not body:
        raise ProfileError([f"give at least one of {', '.join(BUSINESS_FIELDS)}"], missing=True)
    problems = [f"unknown field {key!r}" for key in sorted(body) if key not in BUSINESS_FIELDS]
    for key, limit in BUSINESS_LIMITS.items():
        if key not in given:
            continue
        value = given[key]
        if not isinstance(value, str):
            problems.append(f"{key} must be a string")
        elif len(value) > limit:
            problems.append(f"{key} is {len(value)} characters; at most {limit}")
        elif key == "email" and value and not _EMAIL.match(value):
            problems.append(f"email {value!r} is not an email address")
    if "websites" in given:
        problems += _check_websites(given["websites"])
    if problems:
        raise ProfileError(problems)
    return given


def check_photo(mime_type: str, content: bytes) -> str:
    """The mime type of a profile photo upload. Raises ProfileError (empty, too large, not JPEG/PNG, or
    bytes that are not the declared type)."""
    if not content:
        raise ProfileError(["the photo is empty: send the image bytes as the body"], missing=True)
    if mime_type not in PHOTO_SIGNATURES:
        raise ProfileError([f"Content-Type {mime_type or 'missing'!r}: a photo is image/jpeg or image/png"])
    if len(content) > MAX_PHOTO:
        raise ProfileError([f"the photo is {len(content)} bytes; at most {MAX_PHOTO}"])
    if not content.startswith(PHOTO_SIGNATURES[mime_type]):
        raise ProfileError([f"the body is not a {mime_type} image"])
    return mime_type


def empty_business() -> dict[str, Any]:
    """The business profile of a fresh client: every field present and empty."""
    return {"address": "", "description": "", "email": "", "vertical": "", "websites": []}


class ProfileStore:
    """The profile rows of `store` (every method blocks and may raise ClientStateError)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def about(self) -> str:
        raw = self._store.get_setting(ABOUT_KEY)
        return raw if isinstance(raw, str) else ""

    def set_about(self, text: str) -> None:
        self._store.put_setting(ABOUT_KEY, text)

    def business(self) -> dict[str, Any]:
        raw = self._store.get_setting(BUSINESS_KEY)
        stored = raw if isinstance(raw, dict) else {}
        return {**empty_business(), **{k: v for k, v in stored.items() if k in BUSINESS_FIELDS}}

    def update_business(self, fields: dict[str, Any]) -> None:
        """Replace the named fields, keep the others."""
        self._store.put_setting(BUSINESS_KEY, {**self.business(), **fields})

    def photo(self) -> Photo | None:
        raw = self._store.get_setting(PHOTO_KEY)
        if not isinstance(raw, dict):
            return None
        return Photo(str(raw["mime_type"]), int(raw["size"]), str(raw["sha256"]), float(raw["set_at"]))

    def set_photo(self, mime_type: str, content: bytes, now: float) -> Photo:
        photo = Photo(mime_type, len(content), hashlib.sha256(content).hexdigest(), now)
        self._store.put_setting(PHOTO_KEY, photo.as_dict())
        return photo

    def delete_photo(self) -> None:
        self._store.delete_setting(PHOTO_KEY)
