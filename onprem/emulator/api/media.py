"""`POST /v1/media` (raw body, Content-Type = the mime type), `GET|DELETE /v1/media/{id}`.

Upload answers 201 `{"media":[{"id"}]}` (the ron96G mock answers 200; 201 is what Meta's other create
calls answer). Files live in the media directory (the shared `/usr/local/wamedia` volume when deployed)
under `emulator/<id>`, their mime type and SHA-256 in the database. An unknown id is 404 with no body,
as documented. Any logged-in user may call these.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from aiohttp import web

from onprem.emulator.api.common import answer
from onprem.emulator.auth import require_bearer
from onprem.emulator.context import EmulatorContext, context_of
from onprem.emulator.dbconnect import Cursor
from onprem.emulator.envelope import INVALID_PARAMETER, ApiFailure
from onprem.emulator.msgstore import MessagingStore

_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
SUBDIR = "emulator"


def _dir(ctx: EmulatorContext) -> Path:
    if ctx.settings.media_dir is None:
        raise ApiFailure(503, (1011, "Service not ready"), "No media directory is configured.")
    return ctx.settings.media_dir / SUBDIR


def _save(ctx: EmulatorContext, media_id: str, mime: str, content: bytes) -> None:
    folder = _dir(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{media_id}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.replace(tmp, folder / media_id)
    digest = hashlib.sha256(content).hexdigest()
    store = ctx.store

    def work(cur: Cursor) -> None:
        cur.execute(
            store.dialect.sql(
                "INSERT INTO media (id, mime_type, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)"
            ),
            (media_id, mime, digest, len(content), ctx.clock()),
        )

    store.execute(work)
    MessagingStore(store).count("media_uploads", 1)


def media_type(ctx: EmulatorContext, media_id: str) -> str | None:
    """The mime type of stored media `media_id`, or None (blocking)."""

    def work(cur: Cursor) -> str | None:
        cur.execute(ctx.store.dialect.sql("SELECT mime_type FROM media WHERE id = ?"), (media_id,))
        rows = cur.fetchall()
        return str(rows[0][0]) if rows else None

    return ctx.store.execute(work)


def _load(ctx: EmulatorContext, media_id: str) -> tuple[bytes, str] | None:
    mime = media_type(ctx, media_id)
    if mime is None:
        return None
    try:
        return (_dir(ctx) / media_id).read_bytes(), mime
    except FileNotFoundError:
        return None


def _delete(ctx: EmulatorContext, media_id: str) -> bool:
    def work(cur: Cursor) -> bool:
        cur.execute(ctx.store.dialect.sql("DELETE FROM media WHERE id = ?"), (media_id,))
        return bool(cur.rowcount == 1)

    found = ctx.store.execute(work)
    (_dir(ctx) / media_id).unlink(missing_ok=True)
    return found


async def upload(request: web.Request) -> web.Response:
    await require_bearer(request)
    ctx = context_of(request)
    mime = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not _MIME.match(mime) or mime in ("application/json", "application/x-www-form-urlencoded"):
        raise ApiFailure(400, INVALID_PARAMETER, "Set Content-Type to the media's mime type.")
    content = await request.read()
    if not content:
        raise ApiFailure(400, INVALID_PARAMETER, "The media body is empty.")
    media_id = str(uuid.uuid4())
    await ctx.db(_save, ctx, media_id, mime, content)
    return answer(request, {"media": [{"id": media_id}]}, status=201)


async def download(request: web.Request) -> web.Response:
    await require_bearer(request)
    ctx = context_of(request)
    found = await ctx.db(_load, ctx, request.match_info["media_id"])
    if found is None:
        return web.Response(status=404)
    content, mime = found
    return web.Response(body=content, headers={"Content-Type": mime})


async def delete(request: web.Request) -> web.Response:
    await require_bearer(request)
    ctx = context_of(request)
    if not await ctx.db(_delete, ctx, request.match_info["media_id"]):
        return web.Response(status=404)
    return answer(request)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/media", upload)
    app.router.add_get("/v1/media/{media_id}", download)
    app.router.add_delete("/v1/media/{media_id}", delete)
