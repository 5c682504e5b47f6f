"""Media: multipart upload, the media object, download with the token, delete."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp

from tests.unit.emulator.cloud.conftest import (
    NUMBER_ID,
    OTHER_TOKEN,
    TOKEN,
    Client,
    call,
    emulator,
    run,
    settings_for,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def upload(client: Client, data: bytes = PNG, **fields: str) -> tuple[int, Any]:
    form = aiohttp.FormData()
    for key, value in {"messaging_product": "whatsapp", "type": "image/png", **fields}.items():
        form.add_field(key, value)
    form.add_field("file", data, filename="a.png", content_type="image/png")
    response = await client.post(
        f"/v21.0/{NUMBER_ID}/media", data=form, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return response.status, await response.json()


def scenario(tmp_path: Path, steps: Any) -> Any:
    async def _go() -> Any:
        async with emulator(settings_for(tmp_path)) as (client, _):
            return await steps(client)

    return run(_go())


def test_uploaded_media_is_described_downloaded_and_deleted(tmp_path: Path) -> None:
    async def steps(client: Client) -> Any:
        status, uploaded = await upload(client)
        media_id = uploaded["id"]
        _, described = await call(client, "GET", f"/v21.0/{media_id}")
        url = described["url"]
        download = await client.session.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        data = await download.read()
        anonymous = await client.session.get(url)
        deleted = await call(client, "DELETE", f"/v21.0/{media_id}")
        gone = await call(client, "GET", f"/v21.0/{media_id}")
        return status, media_id, described, data, anonymous.status, deleted, gone

    status, media_id, described, data, anonymous, deleted, gone = scenario(tmp_path, steps)
    assert status == 200
    assert media_id.isdigit()
    assert described["messaging_product"] == "whatsapp"
    assert (described["id"], described["mime_type"], described["file_size"]) == (
        media_id,
        "image/png",
        len(PNG),
    )
    assert described["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert data == PNG
    assert anonymous == 401
    assert deleted == (200, {"success": True})
    assert (gone[0], gone[1]["error"]["error_subcode"]) == (400, 33)


def test_media_of_another_business_is_invisible(tmp_path: Path) -> None:
    async def steps(client: Client) -> Any:
        _, uploaded = await upload(client)
        return await call(client, "GET", f"/v21.0/{uploaded['id']}", token=OTHER_TOKEN)

    status, body = scenario(tmp_path, steps)
    assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 100, 33)


def test_an_upload_without_messaging_product_or_file_is_refused(tmp_path: Path) -> None:
    async def steps(client: Client) -> Any:
        bad_product = await upload(client, messaging_product="sms")
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", "image/png")
        response = await client.post(
            f"/v21.0/{NUMBER_ID}/media", data=form, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        json_body = await call(
            client, "POST", f"/v21.0/{NUMBER_ID}/media", body={"messaging_product": "whatsapp"}
        )
        return bad_product, (response.status, await response.json()), json_body

    bad_product, no_file, json_body = scenario(tmp_path, steps)
    assert (bad_product[0], bad_product[1]["error"]["code"]) == (400, 100)
    assert "file" in no_file[1]["error"]["error_data"]["details"]
    assert json_body[1]["error"]["code"] == 100
