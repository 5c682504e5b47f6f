"""Helpers every endpoint module uses: JSON answers stamped with `meta`, and safe body parsing."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from onprem.emulator.context import context_of
from onprem.emulator.envelope import INVALID_REQUEST, ApiFailure


def answer(request: web.Request, body: dict[str, Any] | None = None, *, status: int = 200) -> web.Response:
    """A JSON response with `meta` added, as the client sends on success."""
    payload = dict(body or {})
    payload["meta"] = context_of(request).settings.meta.as_dict()
    return web.json_response(payload, status=status)


async def json_object(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object; `{}` for an empty body when not `required`.

    Raises ApiFailure 400 (1025) for a body that is not JSON or not an object (never a 500).
    """
    raw = await request.read()
    if not raw.strip():
        if required:
            raise ApiFailure(400, INVALID_REQUEST, "A JSON request body is required.")
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiFailure(400, INVALID_REQUEST, "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise ApiFailure(400, INVALID_REQUEST, "The request body must be a JSON object.")
    return parsed
