"""Reading a Graph request's parameters: a JSON body, a form body, or the query string (as Graph does)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from onprem.emulator.cloud import graph_errors as errors


async def params(request: web.Request) -> dict[str, Any]:
    """The request's parameters as a mapping. Raises GraphError 100 for a body that is not an object."""
    found: dict[str, Any] = dict(request.query)
    found.pop("access_token", None)
    if not request.can_read_body:
        return found
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        found.update({key: value for key, value in form.items() if isinstance(value, str)})
        return found
    raw = await request.read()
    if not raw.strip():
        return found
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_param("The request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise errors.invalid_param("The request body must be a JSON object")
    found.update(parsed)
    return found


def text(found: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string parameter. Raises GraphError 100 naming it when missing (and required) or not a string."""
    value = found.get(name)
    if value is None or value == "":
        if required:
            raise errors.missing_param(name)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise errors.invalid_param(f"The parameter {name} must be a string")
    return str(value)


def messaging_product(found: dict[str, Any]) -> None:
    """Require `messaging_product: whatsapp`. Raises GraphError 100."""
    value = text(found, "messaging_product")
    if value != "whatsapp":
        raise errors.invalid_param("The parameter messaging_product must be whatsapp")
