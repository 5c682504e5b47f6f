"""`/v1/settings/profile/about`, `/v1/settings/profile/photo` and `/v1/settings/business/profile`.

Admin only, like every settings endpoint. About: GET `{"settings":{"profile":{"about":{"text"}}}}`,
PATCH `{"text"}`. Photo: POST the image as the raw body with Content-Type image/jpeg or image/png (as
Meta's docs show), or as the `File` part of a multipart form (as the Postman collection does); GET
answers the image bytes with their Content-Type, or with `?format=link` the JSON
`{"settings":{"profile":{"photo":{"link"}}}}`; 404 (1006) when no photo is set; DELETE removes it
(200 also when there was none). Business profile: GET `{"settings":{"business":{"profile":{...}}}}`
with all five fields, POST replaces the fields given. A missing field is 400 (1008), a bad one 400
(1009) naming every problem; nothing is stored then.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import BodyPartReader, web

from onprem.emulator.api.common import answer, json_object
from onprem.emulator.auth import require_admin
from onprem.emulator.context import EmulatorContext, context_of
from onprem.emulator.envelope import INVALID_PARAMETER, MISSING_PARAMETER, NOT_FOUND, ApiFailure
from onprem.emulator.profile import (
    Photo,
    ProfileError,
    ProfileStore,
    check_about,
    check_business,
    check_photo,
)

ABOUT = "/v1/settings/profile/about"
PHOTO = "/v1/settings/profile/photo"
BUSINESS = "/v1/settings/business/profile"
PHOTO_FILE = Path("emulator-profile") / "photo"
NOT_READY = (1011, "Service not ready")


def _failure(exc: ProfileError) -> ApiFailure:
    return ApiFailure(400, MISSING_PARAMETER if exc.missing else INVALID_PARAMETER, "; ".join(exc.problems))


def _photo_path(ctx: EmulatorContext) -> Path:
    base = ctx.settings.media_dir or ctx.settings.data_dir
    if base is None:
        raise ApiFailure(503, NOT_READY, "No media directory is configured.")
    return base / PHOTO_FILE


async def get_about(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    text = await ctx.db(ProfileStore(ctx.store).about)
    return answer(request, {"settings": {"profile": {"about": {"text": text}}}})


async def set_about(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    try:
        text = check_about(await json_object(request))
    except ProfileError as exc:
        raise _failure(exc) from None
    await ctx.db(ProfileStore(ctx.store).set_about, text)
    return answer(request)


async def _upload(request: web.Request) -> tuple[str, bytes]:
    """(mime type, bytes) of the photo: the raw body, or the `File` part of a multipart form."""
    content_type = request.content_type.lower()
    if content_type != "multipart/form-data":
        return content_type, await request.read()
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name in ("File", "file"):
                mime = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
                return mime, bytes(await part.read())
    except (ValueError, AssertionError):  # aiohttp's refusals of a malformed multipart body
        raise ApiFailure(400, INVALID_PARAMETER, "The multipart form is malformed.") from None
    raise ApiFailure(400, MISSING_PARAMETER, "The multipart form has no `File` part with the photo.")


def _save_photo(ctx: EmulatorContext, mime: str, content: bytes) -> Photo:
    path = _photo_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".photo.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.replace(tmp, path)
    return ProfileStore(ctx.store).set_photo(mime, content, ctx.clock())


def _load_photo(ctx: EmulatorContext) -> tuple[Photo, bytes] | None:
    photo = ProfileStore(ctx.store).photo()
    if photo is None:
        return None
    try:
        return photo, _photo_path(ctx).read_bytes()
    except FileNotFoundError:
        return None


def _delete_photo(ctx: EmulatorContext) -> None:
    ProfileStore(ctx.store).delete_photo()
    _photo_path(ctx).unlink(missing_ok=True)


async def set_photo(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    mime, content = await _upload(request)
    try:
        check_photo(mime, content)
    except ProfileError as exc:
        raise _failure(exc) from None
    await ctx.db(_save_photo, ctx, mime, content)
    return answer(request)


async def get_photo(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    wanted = request.query.get("format")
    if wanted not in (None, "link"):
        raise ApiFailure(400, INVALID_PARAMETER, f"format {wanted!r}: leave it out, or give format=link.")
    found = await ctx.db(_load_photo, ctx)
    if found is None:
        raise ApiFailure(404, NOT_FOUND, "No profile photo is set.")
    photo, content = found
    if wanted == "link":
        link = str(request.url.with_path(PHOTO).with_query(None))
        return answer(request, {"settings": {"profile": {"photo": {"link": link}}}})
    return web.Response(body=content, headers={"Content-Type": photo.mime_type})


async def delete_photo(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    await ctx.db(_delete_photo, ctx)
    return answer(request)


async def get_business(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    profile = await ctx.db(ProfileStore(ctx.store).business)
    return answer(request, {"settings": {"business": {"profile": profile}}})


async def set_business(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    try:
        fields = check_business(await json_object(request))
    except ProfileError as exc:
        raise _failure(exc) from None
    await ctx.db(ProfileStore(ctx.store).update_business, fields)
    return answer(request)


def add_routes(app: web.Application) -> None:
    app.router.add_get(ABOUT, get_about)
    app.router.add_patch(ABOUT, set_about)
    app.router.add_get(PHOTO, get_photo)
    app.router.add_post(PHOTO, set_photo)
    app.router.add_delete(PHOTO, delete_photo)
    app.router.add_get(BUSINESS, get_business)
    app.router.add_post(BUSINESS, set_business)
