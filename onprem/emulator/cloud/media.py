"""Media: upload (`POST /{v}/{phone_number_id}/media`, multipart), download by the URL `GET /{v}/{id}`
gave (Bearer token required, as Meta's lookaside URLs), and `DELETE /{v}/{media_id}`."""

from __future__ import annotations

import hashlib
import secrets

from aiohttp import BodyPartReader, web

from onprem.emulator.cloud import graph_errors as errors
from onprem.emulator.cloud.context import context_of
from onprem.emulator.cloud.store import Media

MAX_MEDIA = 100 * 1024 * 1024  # WhatsApp's document limit


def new_media_id() -> str:
    return str(secrets.randbelow(9 * 10**15) + 10**15)


async def upload(request: web.Request) -> web.Response:
    ctx = context_of(request)
    number = ctx.phone(request, request.match_info["object_id"], method="post")
    if not request.content_type.startswith("multipart/"):
        raise errors.invalid_param(
            "media must be uploaded as multipart/form-data with file, type and messaging_product"
        )
    fields: dict[str, str] = {}
    data: bytes | None = None
    file_type = ""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == "file":
            data = bytes(await part.read(decode=False))
            file_type = part.headers.get("Content-Type", "")
            if len(data) > MAX_MEDIA:
                raise errors.invalid_param("file is larger than 100 MB")
        else:
            fields[part.name] = (await part.text())[:256]
    if fields.get("messaging_product") is None:
        raise errors.missing_param("messaging_product")
    if fields["messaging_product"] != "whatsapp":
        raise errors.invalid_param("The parameter messaging_product must be whatsapp")
    if data is None:
        raise errors.missing_param("file")
    mime = fields.get("type") or file_type
    if not mime or "/" not in mime:
        raise errors.missing_param("type")
    media = Media(new_media_id(), number.id, mime, hashlib.sha256(data).hexdigest(), len(data))
    ctx.store.add_media(media, data, now=ctx.clock())
    return web.json_response({"id": media.id})


async def download(request: web.Request) -> web.Response:
    ctx = context_of(request)
    media_id = request.query.get("mid", "")
    media = ctx.media(request, media_id)
    data = ctx.store.media_bytes(media.id)
    if data is None:
        raise errors.no_object(media_id)
    return web.Response(body=data, content_type=media.mime_type)


async def delete(request: web.Request) -> web.Response:
    ctx = context_of(request)
    media = ctx.media(request, request.match_info["object_id"], method="delete")
    ctx.store.delete_media(media.id)
    return web.json_response({"success": True})


def add_routes(app: web.Application, version: str) -> None:
    app.router.add_post(f"/{version}/{{object_id:[0-9]+}}/media", upload)
    app.router.add_delete(f"/{version}/{{object_id:[0-9]+}}", delete)
    app.router.add_get("/whatsapp_business/attachments/", download)
