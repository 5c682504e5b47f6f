"""POST /v1/media, GET|DELETE /v1/media/{id}, and media messages referring to uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat
from tests.unit.emulator.conftest import bearer, call, register_number, rotate

Client = TestClient[Any, Any]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_media_round_trip(run: Any, tmp_path: Path) -> None:
    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        up = await client.post("/v1/media", data=PNG, headers={**bearer(token), "Content-Type": "image/png"})
        media_id = (await up.json())["media"][0]["id"]
        got = await client.get(f"/v1/media/{media_id}", headers=bearer(token))
        content = await got.read()
        deleted = await call(client, "DELETE", f"/v1/media/{media_id}", token)
        gone = await client.get(f"/v1/media/{media_id}", headers=bearer(token))
        again = await client.delete(f"/v1/media/{media_id}", headers=bearer(token))
        no_type = await client.post(
            "/v1/media", data=PNG, headers={**bearer(token), "Content-Type": "nonsense"}
        )
        return [
            up.status,
            got.status,
            got.headers["Content-Type"],
            content,
            deleted[0],
            gone.status,
            await gone.read(),
            again.status,
            no_type.status,
        ]

    assert run(scenario, media_dir=tmp_path / "media") == [
        201,
        200,
        "image/png",
        PNG,
        200,
        404,
        b"",
        404,
        400,
    ]


def test_media_messages_need_a_known_id_or_a_link(
    run: Any, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        await register_number(client, store, token)
        up = await client.post("/v1/media", data=PNG, headers={**bearer(token), "Content-Type": "image/png"})
        media_id = (await up.json())["media"][0]["id"]
        base = {"to": "16315551234", "type": "image"}
        return [
            (await call(client, "POST", "/v1/messages", token, {**base, "image": {"id": media_id}}))[0],
            (await call(client, "POST", "/v1/messages", token, {**base, "image": {"id": "nope"}}))[0],
            (
                await call(
                    client, "POST", "/v1/messages", token, {**base, "image": {"link": "https://x/y.png"}}
                )
            )[0],
            (await call(client, "POST", "/v1/messages", token, {**base, "image": {}}))[0],
        ]

    assert run(scenario, media_dir=tmp_path / "media") == [201, 404, 201, 400]
