"""Application settings (`/v1/settings/application`): documented defaults and partial updates (pure).

Only what differs from the defaults is stored (settings key `application`), so `DELETE` is "forget the
overrides" and a default changed in a later version reaches every client. `apply_patch` validates a
PATCH body against the documented types and ranges and returns the new overrides, or raises
SettingsError naming every problem; nothing is stored unless the whole PATCH is valid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

MEDIA_TYPES = ("image", "video", "voice", "sticker", "audio", "document")
CONCURRENCY = (6, 12, 18, 24)
LOG_LEVELS = ("debug", "info", "warning", "error")

DEFAULTS: dict[str, Any] = {
    "callback_backoff_delay_ms": 3000,
    "callback_persist": True,
    "garbagecollector_enable": {"media": False, "messages": True},
    "heartbeat_interval": 5,
    "max_callback_backoff_delay_ms": 900000,
    "media": {"auto_download": list(MEDIA_TYPES)},
    "notify_user_change_number": True,
    "show_security_notifications": True,
    "unhealthy_interval": 30,
    "webhooks": {"max_concurrent_requests": 12, "message": {"sent": True, "delivered": True, "read": False}},
    "verbose_logging": False,
    "log_level": "info",
    "sent_status": False,
}


class SettingsError(ValueError):
    """A PATCH body the client refuses; `problems` lists each invalid field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


Check = Callable[[Any], Any]  # returns the normalised value or raises ValueError


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("expected true or false")


def _ms(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        # The docs type these as strings ("delay-in-ms") while GET shows integers: accept both.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected milliseconds between {low} and {high}")
        return value

    return check


def _seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("expected a positive number of seconds")
    return value


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected an https:// URL")
    if value == "":
        return value  # clears the URL: callbacks stay queued
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL (plain HTTP is not supported)")
    return value


def _one_of(choices: tuple[Any, ...]) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or value not in choices:
            raise ValueError(f"expected one of {list(choices)}")
        return value

    return check


def _media_types(value: Any) -> list[str]:
    if not isinstance(value, list) or any(item not in MEDIA_TYPES for item in value):
        raise ValueError(f"expected a list of {list(MEDIA_TYPES)}")
    return list(dict.fromkeys(value))


def _pass_through(value: Any) -> bool:
    if _bool(value):
        raise ValueError("can no longer be enabled (since v2.35)")
    return False


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


# Leaves of the settings tree: dotted path -> check. Older documented keys are accepted as well.
FIELDS: dict[str, Check] = {
    "callback_backoff_delay_ms": _ms(1, 900000),
    "max_callback_backoff_delay_ms": _ms(1, 3600000),
    "callback_persist": _bool,
    "garbagecollector_enable.media": _bool,
    "garbagecollector_enable.messages": _bool,
    "heartbeat_interval": _seconds,
    "unhealthy_interval": _seconds,
    "media.auto_download": _media_types,
    "notify_user_change_number": _bool,
    "show_security_notifications": _bool,
    "webhooks.url": _url,
    "webhooks.max_concurrent_requests": _one_of(CONCURRENCY),
    "webhooks.message.sent": _bool,
    "webhooks.message.delivered": _bool,
    "webhooks.message.read": _bool,
    "verbose_logging": _bool,
    "log_level": _one_of(LOG_LEVELS),
    "sent_status": _bool,
    "pass_through": _pass_through,
    "db_garbagecollector_enable": _bool,
    "on_call_pager": _text,
    "axolotl_context_striping_disabled": _bool,
}
_BRANCHES = {path.rsplit(".", 1)[0] for path in FIELDS if "." in path} | {"webhooks.message"}


def _flatten(body: dict[str, Any], prefix: str, out: dict[str, Any], problems: list[str]) -> None:
    for key, value in body.items():
        path = f"{prefix}{key}"
        if path in FIELDS:
            out[path] = value
        elif path in _BRANCHES:
            if isinstance(value, dict):
                _flatten(value, path + ".", out, problems)
            else:
                problems.append(f"{path}: expected an object")
        else:
            problems.append(f"{path}: unknown setting")


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def merged(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The effective settings: the defaults with `overrides` laid over them (deeply)."""
    result = copy.deepcopy(DEFAULTS)

    def lay(target: dict[str, Any], source: dict[str, Any]) -> None:
        for key, value in source.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                lay(target[key], value)
            else:
                target[key] = copy.deepcopy(value)

    lay(result, overrides or {})
    return result


def apply_patch(overrides: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
    """The overrides after a PATCH with `body`. Raises SettingsError listing every invalid field."""
    flat: dict[str, Any] = {}
    problems: list[str] = []
    _flatten(body, "", flat, problems)
    result = copy.deepcopy(overrides or {})
    for path, value in flat.items():
        try:
            _set(result, path, FIELDS[path](value))
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    if problems:
        raise SettingsError(problems)
    return result
