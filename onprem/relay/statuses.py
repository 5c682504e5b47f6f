"""The status callbacks the relay received for one message (pure): what `onprem relay statuses` reads
out of the stored event bodies so `onprem send` can say what became of a message.

On-Prem callbacks carry `{"statuses":[{"id","status","timestamp","errors"?}]}` at the top; Cloud API
webhooks nest the same entries under `entry[].changes[].value.statuses`. Both are read. Bodies that are
not JSON, and entries of other messages, are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def _entries(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict):
        return
    yield from (s for s in document.get("statuses") or [] if isinstance(s, dict))
    for entry in document.get("entry") or []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            yield from _entries(value) if isinstance(value, dict) and "entry" not in value else ()


def statuses_for(message_id: str, bodies: Iterable[bytes]) -> list[dict[str, Any]]:
    """Every status entry of `message_id` in `bodies` (in their order), as
    `{"status", "timestamp", "errors"}` with `errors` a list of `{"code", "title"}`."""
    found = []
    for body in bodies:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            continue
        for entry in _entries(document):
            if entry.get("id") != message_id:
                continue
            errors = [
                {"code": e.get("code"), "title": str(e.get("title", ""))}
                for e in entry.get("errors") or []
                if isinstance(e, dict)
            ]
            found.append(
                {
                    "status": str(entry.get("status", "")),
                    "timestamp": str(entry.get("timestamp", "")),
                    "errors": errors,
                }
            )
    return found
