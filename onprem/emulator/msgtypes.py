"""The message objects of `POST /v1/messages` beyond text (pure): location, contacts, interactive (list
and reply buttons), media by id or link, and template components.

A required field that is absent is 400 (1008, "Required parameter is missing"); a present field of the
wrong type or outside the documented limits is 400 (1009); a template whose body parameters do not
match its `{{n}}` count is 2000 (checked by rules.py). Each refusal's details name the field by its
path (`interactive.action.buttons[1].reply.title`). Limits are Meta's message-object reference:
interactive body 1024 characters, header and footer 60, 1-3 reply buttons with titles of 20, list
button text 20, 1-10 sections of 10 rows in all, row titles 24 and descriptions 72; captions 1024.
"""

from __future__ import annotations

from typing import Any

from onprem.emulator.envelope import INVALID_PARAMETER, MISSING_PARAMETER, ApiFailure

MEDIA_KINDS = ("image", "document", "audio", "video", "sticker")
CAPTIONED = ("image", "document", "video")
MAX_CAPTION = 1024
MAX_INTERACTIVE_BODY = 1024
MAX_HEADER_FOOTER = 60
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_SECTIONS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
TEMPLATE_COMPONENTS = ("header", "body", "button")
BUTTON_SUB_TYPES = ("quick_reply", "url")
HEADER_TYPES = ("text", "image", "document", "video")
PARAMETER_TYPES = ("text", "currency", "date_time", "image", "document", "video", "payload")


def missing(path: str) -> ApiFailure:
    return ApiFailure(400, MISSING_PARAMETER, f"{path} is required.")


def invalid(path: str, why: str) -> ApiFailure:
    return ApiFailure(400, INVALID_PARAMETER, f"{path} {why}.")


def need(parent: dict[str, Any], key: str, path: str) -> Any:
    """`parent[key]`, or ApiFailure 1008 naming `path.key`."""
    value = parent.get(key)
    if value is None or value == "":
        raise missing(f"{path}.{key}")
    return value


def obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "must be an object")
    return value


def items(value: Any, path: str, *, low: int, high: int) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(path, "must be a list")
    if not low <= len(value) <= high:
        raise invalid(path, f"has {len(value)} entries; {low} to {high} are allowed")
    return value


def text(value: Any, path: str, *, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(path, "must be a non-empty string")
    if len(value) > limit:
        raise invalid(path, f"is {len(value)} characters; at most {limit}")
    return value


def _number(value: Any, path: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(path, "must be a number") from None
    if not low <= number <= high:
        raise invalid(path, f"must be between {low:g} and {high:g}")
    return number


def check_location(body: dict[str, Any]) -> None:
    location = obj(need(body, "location", "message"), "location")
    _number(need(location, "latitude", "location"), "location.latitude", -90, 90)
    _number(need(location, "longitude", "location"), "location.longitude", -180, 180)
    for key in ("name", "address"):
        if key in location and not isinstance(location[key], str):
            raise invalid(f"location.{key}", "must be a string")


def check_contacts(body: dict[str, Any]) -> None:
    contacts = items(need(body, "contacts", "message"), "contacts", low=1, high=257)
    for index, raw in enumerate(contacts):
        path = f"contacts[{index}]"
        contact = obj(raw, path)
        name = obj(need(contact, "name", path), f"{path}.name")
        text(need(name, "formatted_name", f"{path}.name"), f"{path}.name.formatted_name", limit=1024)
        for key in ("phones", "emails", "urls", "addresses"):
            if key in contact:
                for n, entry in enumerate(items(contact[key], f"{path}.{key}", low=0, high=20)):
                    obj(entry, f"{path}.{key}[{n}]")


def _check_buttons(action: dict[str, Any]) -> None:
    buttons = items(
        need(action, "buttons", "interactive.action"), "interactive.action.buttons", low=1, high=3
    )
    seen: set[str] = set()
    for index, raw in enumerate(buttons):
        path = f"interactive.action.buttons[{index}]"
        button = obj(raw, path)
        if need(button, "type", path) != "reply":
            raise invalid(f"{path}.type", 'must be "reply"')
        reply = obj(need(button, "reply", path), f"{path}.reply")
        button_id = text(need(reply, "id", f"{path}.reply"), f"{path}.reply.id", limit=256)
        text(need(reply, "title", f"{path}.reply"), f"{path}.reply.title", limit=MAX_BUTTON_TITLE)
        if button_id in seen:
            raise invalid(f"{path}.reply.id", f"{button_id!r} is used by another button")
        seen.add(button_id)


def _check_list(action: dict[str, Any]) -> None:
    text(need(action, "button", "interactive.action"), "interactive.action.button", limit=MAX_BUTTON_TITLE)
    sections = items(
        need(action, "sections", "interactive.action"),
        "interactive.action.sections",
        low=1,
        high=MAX_SECTIONS,
    )
    rows_seen = 0
    for index, raw in enumerate(sections):
        path = f"interactive.action.sections[{index}]"
        section = obj(raw, path)
        if len(sections) > 1:
            text(need(section, "title", path), f"{path}.title", limit=MAX_ROW_TITLE)
        for n, row_raw in enumerate(items(need(section, "rows", path), f"{path}.rows", low=1, high=MAX_ROWS)):
            row = obj(row_raw, f"{path}.rows[{n}]")
            text(need(row, "id", f"{path}.rows[{n}]"), f"{path}.rows[{n}].id", limit=200)
            text(need(row, "title", f"{path}.rows[{n}]"), f"{path}.rows[{n}].title", limit=MAX_ROW_TITLE)
            if "description" in row:
                text(row["description"], f"{path}.rows[{n}].description", limit=MAX_ROW_DESCRIPTION)
            rows_seen += 1
    if rows_seen > MAX_ROWS:
        raise invalid("interactive.action.sections", f"hold {rows_seen} rows in all; at most {MAX_ROWS}")


def check_interactive(body: dict[str, Any]) -> None:
    interactive = obj(need(body, "interactive", "message"), "interactive")
    kind = need(interactive, "type", "interactive")
    if kind not in ("list", "button"):
        raise invalid("interactive.type", f"{kind!r} is not one of list, button")
    body_text = obj(need(interactive, "body", "interactive"), "interactive.body")
    text(need(body_text, "text", "interactive.body"), "interactive.body.text", limit=MAX_INTERACTIVE_BODY)
    for part in ("header", "footer"):
        if part in interactive:
            section = obj(interactive[part], f"interactive.{part}")
            header_type = section.get("type", "text") if part == "header" else "text"
            if header_type not in HEADER_TYPES:
                raise invalid(
                    "interactive.header.type", f"{header_type!r} is not one of {', '.join(HEADER_TYPES)}"
                )
            if header_type != "text":
                media_object(section, header_type, "interactive.header")
                continue
            text(
                need(section, "text", f"interactive.{part}"),
                f"interactive.{part}.text",
                limit=MAX_HEADER_FOOTER,
            )
    action = obj(need(interactive, "action", "interactive"), "interactive.action")
    if kind == "button":
        _check_buttons(action)
    else:
        _check_list(action)


def media_object(parent: dict[str, Any], kind: str, parent_path: str) -> str | None:
    """Check `parent[kind]`, a media object by `id` or `link`; the media id it refers to, if any."""
    path = f"{parent_path}.{kind}" if parent_path != "message" else kind
    media = obj(need(parent, kind, parent_path), path)
    media_id, link = media.get("id"), media.get("link")
    if not media_id and not link:
        raise missing(f"{path}.id or {path}.link")
    if media_id and link:
        raise invalid(path, "takes id or link, not both")
    if link and not (isinstance(link, str) and link.startswith(("https://", "http://"))):
        raise invalid(f"{path}.link", "must be an http(s) URL")
    return str(media_id) if media_id else None


def check_media(body: dict[str, Any], kind: str) -> str | None:
    """A media message by id or by link; the media id it refers to (an upload), if any."""
    media_id = media_object(body, kind, "message")
    media = body[kind]
    if "caption" in media:
        if kind not in CAPTIONED:
            raise invalid(f"{kind}.caption", f"is not allowed on {kind} messages")
        text(media["caption"], f"{kind}.caption", limit=MAX_CAPTION)
    if "filename" in media and (kind != "document" or not isinstance(media["filename"], str)):
        raise invalid(f"{kind}.filename", "is a string, on document messages only")
    return media_id


def _check_parameter(raw: Any, path: str) -> None:
    parameter = obj(raw, path)
    kind = need(parameter, "type", path)
    if kind not in PARAMETER_TYPES:
        raise invalid(f"{path}.type", f"{kind!r} is not one of {', '.join(PARAMETER_TYPES)}")
    if kind in ("text", "payload"):
        text(need(parameter, kind, path), f"{path}.{kind}", limit=1024)
    elif kind == "currency":
        currency = obj(need(parameter, "currency", path), f"{path}.currency")
        for key in ("fallback_value", "code", "amount_1000"):
            need(currency, key, f"{path}.currency")
    elif kind == "date_time":
        need(
            obj(need(parameter, "date_time", path), f"{path}.date_time"),
            "fallback_value",
            f"{path}.date_time",
        )
    else:
        media_object(parameter, kind, path)


def template_body_parameters(template: dict[str, Any]) -> int:
    """Check a template's `components` (header, body, button parameters); the number of body parameters
    (which must match the template's `{{n}}` count)."""
    components = template.get("components", [])
    if not isinstance(components, list):
        raise invalid("template.components", "must be a list")
    count = 0
    for index, raw in enumerate(components):
        path = f"template.components[{index}]"
        component = obj(raw, path)
        kind = need(component, "type", path)
        if kind not in TEMPLATE_COMPONENTS:
            raise invalid(f"{path}.type", f"{kind!r} is not one of {', '.join(TEMPLATE_COMPONENTS)}")
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list):
            raise invalid(f"{path}.parameters", "must be a list")
        if kind == "button":
            if need(component, "sub_type", path) not in BUTTON_SUB_TYPES:
                raise invalid(f"{path}.sub_type", f"must be one of {', '.join(BUTTON_SUB_TYPES)}")
            _number(need(component, "index", path), f"{path}.index", 0, 2)
        for n, parameter in enumerate(parameters):
            _check_parameter(parameter, f"{path}.parameters[{n}]")
        if kind == "body":
            count += len(parameters)
    return count
