"""GET /v1/health over HTTP: Apikey/Bearer auth, single and multiconnect shapes, transitions."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from onprem.emulator.core import CoreNode, NodeIdentity
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, assign_shard, core_heartbeat, hold_lease, register
from tests.unit.emulator.conftest import API_KEY, NEW_PASSWORD, basic, bearer, rotate

Client = TestClient[Any, Any]
APIKEY = {"Authorization": f"Apikey {API_KEY}"}


async def gateway(client: Client) -> Any:
    response = await client.get("/v1/health", headers=APIKEY)
    assert response.status == 200
    return (await response.json())["health"]


def test_the_api_key_and_a_bearer_token_both_authorise_health(run: Any) -> None:
    async def scenario(client: Client) -> list[int]:
        token = await rotate(client)
        return [
            (await client.get("/v1/health", headers=APIKEY)).status,
            (await client.get("/v1/health", headers={"Authorization": f"apikey {API_KEY}"})).status,
            (await client.get("/v1/health", headers=bearer(token))).status,
        ]

    assert run(scenario) == [200, 200, 200]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Apikey wrong-key-0123456789"},
        {"Authorization": f"Apikey {API_KEY}x"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWRtaW46c2VjcmV0"},
        {"Authorization": "Apikey"},
    ],
)
def test_missing_or_invalid_credentials_get_401_with_the_envelope(run: Any, headers: dict[str, str]) -> None:
    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.get("/v1/health", headers=headers)
        return response.status, await response.json()

    status, body = run(scenario)
    assert status == 401
    assert body["errors"][0]["code"] == 1005
    assert "meta" in body


def test_without_wa_api_key_the_apikey_scheme_never_matches(run: Any) -> None:
    async def scenario(client: Client) -> int:
        return (await client.get("/v1/health", headers={"Authorization": "Apikey "})).status

    assert run(scenario, api_key=None) == 401


def test_single_health_follows_core_and_registration(run: Any, store: Store, clock: FakeClock) -> None:
    async def scenario(client: Client) -> list[Any]:
        seen = [await gateway(client)]
        core_heartbeat(store, "wacore", now=clock())
        seen.append(await gateway(client))
        register(store)
        seen.append(await gateway(client))
        clock.advance(3.5)
        seen.append(await gateway(client))
        return seen

    assert run(scenario) == [
        {"gateway_status": "disconnected"},
        {"gateway_status": "unregistered"},
        {"gateway_status": "connected"},
        {"gateway_status": "disconnected"},
    ]


def test_a_core_stopping_gracefully_is_down_at_once(run: Any, store: Store, clock: FakeClock) -> None:
    node = CoreNode(store, NodeIdentity("wacore", "0123456789ab", "coreapp"), clock=clock, interval=0.01)
    register(store)

    async def scenario(client: Client) -> list[Any]:
        stop = asyncio.Event()
        task = asyncio.create_task(node.run(stop))
        await asyncio.sleep(0.05)
        seen = [await gateway(client)]
        stop.set()
        await task
        await node.close()
        seen.append(await gateway(client))
        return seen

    assert run(scenario) == [{"gateway_status": "connected"}, {"gateway_status": "disconnected"}]


def test_multiconnect_shape_is_keyed_by_node_with_roles(run: Any, store: Store, clock: FakeClock) -> None:
    master = core_heartbeat(store, "master1", kind="master", now=clock(), cid="aaaaaaaaaaaa")
    core1 = core_heartbeat(store, "wacore1", now=clock(), cid="bbbbbbbbbbbb")
    core2 = core_heartbeat(store, "wacore2", now=clock(), cid="cccccccccccc")
    store.put_setting("shards", 1)
    hold_lease(store, master, now=clock())
    assign_shard(store, 0, core1, now=clock())

    async def scenario(client: Client) -> list[Any]:
        seen = [await gateway(client)]
        register(store)
        seen.append(await gateway(client))
        return seen

    unregistered, registered = run(scenario, multiconnect=True)
    owner = {"shard": 0, "shards": 1}
    assert unregistered == {
        master: {"gateway_status": "unregistered", "role": "primary_master"},
        core1: {"gateway_status": "unregistered", "role": "primary_coreapp", **owner},
        core2: {"gateway_status": "unregistered", "role": "secondary_coreapp"},
    }
    assert registered == {
        master: {"gateway_status": "connected", "role": "primary_master"},
        core1: {"gateway_status": "connected", "role": "primary_coreapp", **owner},
        core2: {"gateway_status": "disconnected", "role": "secondary_coreapp"},
    }
    assert master == "master1:aaaaaaaaaaaa"


def test_logs_never_carry_passwords_tokens_or_the_api_key(run: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario(client: Client) -> str:
        await client.post("/v1/users/login", headers=basic("admin", "secret"))
        token = await rotate(client)
        await client.post("/v1/users/login", headers=basic("admin", "Wr0ng!secret"))
        await client.get("/v1/health?key=" + API_KEY, headers=APIKEY)
        await client.post("/v1/users/logout", headers=bearer(token))
        return token

    token = run(scenario)
    # The emulator's own loggers (the test server's access log is aiohttp's, off in `runtime`).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("onprem"))
    for secret in (NEW_PASSWORD, "Wr0ng!secret", token, API_KEY):
        assert secret not in ours
    assert "login of user 'admin'" in ours
