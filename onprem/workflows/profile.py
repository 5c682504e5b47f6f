"""`onprem profile` and `onprem business-profile`: read and change the number's profile (about text,
photo) and its business profile, over the API client.

The documented limits are checked here first, so a bad value is refused before any request with the
option to fix; the client checks again and its refusal (an ApiError) is passed on as it is. A business
profile change sends the fields given merged over the current profile, so `set --email X` keeps the
other fields whatever the client does with absent ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from onprem.api.transport import is_not_found
from onprem.errors import ApiError, ConfigError

MAX_ABOUT = 139
MAX_PHOTO = 5 * 1024 * 1024
MAX_WEBSITES = 2
FIELD_LIMITS = {"address": 256, "description": 256, "email": 128, "vertical": 128}
BUSINESS_FIELDS = (*FIELD_LIMITS, "websites")
MAX_WEBSITE = 256
IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


class ProfileApi(Protocol):
    def get_about(self) -> str: ...

    def set_about(self, text: str) -> None: ...

    def get_photo(self) -> tuple[bytes, str]: ...

    def set_photo(self, content: bytes, mime_type: str) -> None: ...

    def delete_photo(self) -> None: ...

    def get_business_profile(self) -> dict[str, Any]: ...

    def set_business_profile(self, fields: Mapping[str, Any]) -> None: ...


def show_profile(api: ProfileApi) -> dict[str, Any]:
    """`{"about", "photo"}`: the about text, and the photo's mime type, size and SHA-256 (None when no
    photo is set). Raises ApiError."""
    about = api.get_about()
    try:
        content, mime = api.get_photo()
    except ApiError as exc:
        if not is_not_found(exc):
            raise
        return {"about": about, "photo": None}
    photo = {"mime_type": mime, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    return {"about": about, "photo": photo}


def set_about(api: ProfileApi, text: str) -> dict[str, str]:
    """Set the about text. Raises ConfigError (longer than 139 characters), ApiError."""
    if len(text) > MAX_ABOUT:
        raise ConfigError(f"TEXT is {len(text)} characters; the about text takes at most {MAX_ABOUT}")
    api.set_about(text)
    return {"about": text}


def photo_type(content: bytes, source: str) -> str:
    """The mime type of a profile photo, from its leading bytes. Raises ConfigError naming `source`
    (empty, too large, neither JPEG nor PNG)."""
    if not content:
        raise ConfigError(f"{source} is empty; give a JPEG or PNG image")
    if len(content) > MAX_PHOTO:
        raise ConfigError(f"{source} is {len(content)} bytes; a profile photo is at most {MAX_PHOTO}")
    for signature, mime in IMAGE_TYPES:
        if content.startswith(signature):
            return mime
    raise ConfigError(f"{source} is neither a JPEG nor a PNG image; convert it to one of those")


def set_photo(api: ProfileApi, path: Path) -> dict[str, Any]:
    """Upload the image at `path` as the profile photo. Raises ConfigError (unreadable, not JPEG/PNG,
    too large), ApiError."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the photo ({exc.strerror or exc})") from None
    mime = photo_type(content, str(path))
    api.set_photo(content, mime)
    return {"mime_type": mime, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def delete_photo(api: ProfileApi) -> dict[str, str]:
    """Remove the profile photo (done also when there was none). Raises ApiError."""
    api.delete_photo()
    return {"photo": "deleted"}


def show_business(api: ProfileApi) -> dict[str, Any]:
    """The business profile, every field present. Raises ApiError."""
    profile = api.get_business_profile()
    return {key: profile.get(key, [] if key == "websites" else "") for key in BUSINESS_FIELDS}


def business_changes(
    *,
    address: str | None = None,
    description: str | None = None,
    email: str | None = None,
    vertical: str | None = None,
    websites: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The fields to change, checked against the documented limits. Raises ConfigError naming every
    bad option, or when none is given."""
    given: dict[str, Any] = {
        key: value
        for key, value in (
            ("address", address),
            ("description", description),
            ("email", email),
            ("vertical", vertical),
        )
        if value is not None
    }
    problems = [
        f"--{key} is {len(value)} characters; at most {FIELD_LIMITS[key]}"
        for key, value in given.items()
        if len(value) > FIELD_LIMITS[key]
    ]
    email_value = given.get("email")
    if email_value and ("@" not in email_value or " " in email_value):
        problems.append(f"--email {email_value!r} is not an email address")
    if websites is not None:
        sites = list(websites)
        if len(sites) > MAX_WEBSITES:
            problems.append(
                f"--website given {len(sites)} times; a business profile has at most {MAX_WEBSITES}"
            )
        for site in sites:
            if not site.startswith(("https://", "http://")) or len(site) > MAX_WEBSITE:
                problems.append(f"--website {site!r}: an http(s) URL of at most {MAX_WEBSITE} characters")
        given["websites"] = sites
    if problems:
        raise ConfigError("business profile: " + "; ".join(problems))
    if not given:
        raise ConfigError(
            "business-profile set: give at least one of "
            + ", ".join(f"--{k}" for k in FIELD_LIMITS)
            + ", --website"
        )
    return given


def set_business(api: ProfileApi, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `changes` (from `business_changes`) over the current business profile; the profile as set.
    Raises ApiError."""
    profile = {**show_business(api), **changes}
    api.set_business_profile(profile)
    return profile
