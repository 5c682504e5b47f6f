"""/v1/stats/app, /v1/stats/db and /v1/metrics: shapes, auth, Prometheus text, numbers that move."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from onprem.emulator.appsettings import apply_patch
from onprem.emulator.context import WebSettings
from onprem.emulator.dbconnect import Dialect
from onprem.emulator.dispatch import Dispatcher
from onprem.emulator.msgstore import MessagingStore
from onprem.emulator.stats import app_stats, prometheus_text
from onprem.emulator.store import Store
from onprem.emulator.testing import FakeClock, core_heartbeat
from onprem.emulator.web import create_app
from tests.unit.emulator.conftest import API_KEY, call, register_number, rotate, serve

Client = TestClient[Any, Any]
APIKEY = {"Authorization": f"Apikey {API_KEY}"}
TEXT = {"to": "16315551234", "type": "text", "text": {"body": "hello"}}


def values(metrics: dict[str, Any], name: str) -> dict[str, float]:
    return {str(sorted(p["labels"].items())): p["value"] for p in metrics[name]["data"]}


def test_stats_app_moves_with_messages_and_callbacks(run: Any, store: Store, clock: FakeClock) -> None:
    node = core_heartbeat(store, "wacore", now=clock())

    async def failing(url: str, body: bytes, context: Any) -> int:
        return 500

    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        await register_number(client, store, token)
        before = (await (await client.get("/v1/stats/app", headers=APIKEY)).json())["stats"]["app"]
        await call(client, "POST", "/_emulator/inbound", token, {"from": "16315551234", "text": "hi"})
        await call(client, "POST", "/v1/messages", token, TEXT)
        await call(
            client, "PATCH", "/v1/settings/application", token, {"webhooks": {"url": "https://sink/x"}}
        )
        dispatcher = Dispatcher(store, post=failing, clock=clock)
        await dispatcher.step()
        clock.advance(1)
        core_heartbeat(store, "wacore", now=clock())
        after = (await (await client.get("/v1/stats/app", headers=APIKEY)).json())["stats"]["app"]
        text = await (await client.get("/v1/stats/app?format=prometheus", headers=APIKEY)).text()
        return [before, after, text]

    before, after, text = run(scenario, test_hooks=True)
    assert values(before, "callback_queue_size") == {"[]": 0}
    assert values(before, "out_message_persisted") == {"[]": 0}
    assert values(after, "out_message_persisted") == {"[]": 1}
    assert values(after, "in_message_from_server") == {"[]": 1}
    assert values(after, "out_message_status")["[('status', 'sent')]"] == 1
    assert values(after, "callback_queue_size")["[]"] >= 2  # inbound + sent status, both failing
    assert values(after, "pending_callbacks")["[]"] >= 2
    assert values(after, "callback_requests")["[('result', '500'), ('type', 'inbound_message')]"] == 1
    assert after["callback_queue_size"]["type"] == "gauge"
    assert "# TYPE callback_queue_size gauge" in text
    assert 'callback_requests{result="500",type="inbound_message"} 1' in text
    assert node


def test_multiconnect_stats_are_keyed_by_node() -> None:
    counters: list[tuple[str, str, dict[str, str], float]] = [
        ("wacore1:a", "out_message_persisted", {}, 2.0),
        ("wacore2:b", "out_message_persisted", {}, 3.0),
    ]
    gauges = {"wacore1:a": (1, 0, 0)}
    single = app_stats(counters, gauges)
    multi = app_stats(counters, gauges, nodes=["wacore1:a", "wacore2:b"], multiconnect=True)
    assert single["out_message_persisted"]["data"] == [{"labels": {}, "value": 5.0}]
    assert set(multi) == {"wacore1:a", "wacore2:b"}
    assert multi["wacore1:a"]["callback_queue_size"]["data"][0]["value"] == 1.0
    text = prometheus_text(multi.items())
    assert 'out_message_persisted{node="wacore2:b"} 3' in text


def test_stats_db_and_web_metrics(run: Any, store: Store, clock: FakeClock) -> None:
    core_heartbeat(store, "wacore", now=clock())

    async def scenario(client: Client) -> list[Any]:
        token = await rotate(client)
        await register_number(client, store, token)
        await call(client, "POST", "/v1/messages", token, TEXT)
        db = await (await client.get("/v1/stats/db", headers=APIKEY)).json()
        metrics = await (await client.get("/v1/metrics", headers=APIKEY)).json()
        prom = await client.get("/v1/metrics?format=prometheus", headers=APIKEY)
        bad = await client.get("/v1/metrics?format=xml", headers=APIKEY)
        unauth = await client.get("/v1/stats/app")
        return [db, metrics, prom.headers["Content-Type"], await prom.text(), bad.status, unauth.status]

    db, metrics, content_type, text, bad, unauth = run(scenario)
    assert values(db["stats"]["db"], "db_messages")["[('type', 'sent')]"] == 1
    web = metrics["metrics"]
    assert (
        values(web, "api_requests_duration_ms_count")[
            "[('method', 'POST_v1_messages'), ('node', 'waweb'), ('result', '201')]"
        ]
        == 1
    )
    assert web["web_uptime"]["type"] == "gauge"
    assert content_type.startswith("text/plain")
    assert 'web_requests{node="waweb",state="handle-request"}' in text
    assert (bad, unauth) == (400, 401)


def test_the_dispatcher_counts_success_durations(store: Store, clock: FakeClock) -> None:
    from onprem.emulator.testing import register

    register(store)
    store.put_setting("application", apply_patch({}, {"webhooks": {"url": "https://sink/x"}}))
    node = core_heartbeat(store, "wacore", now=clock())
    MessagingStore(store).add_outbound("gBEG1", "16315551234", node, rejected=False, now=clock())

    async def ok(url: str, body: bytes, context: Any) -> int:
        return 200

    asyncio.run(Dispatcher(store, post=ok, clock=clock).step())
    stats = app_stats(MessagingStore(store).counters(), MessagingStore(store).queue_gauges())
    assert values(stats, "callback_requests_duration_ms_count") == {"[]": 1}
    assert values(stats, "out_message_sent_duration_ms_count") == {"[]": 1}


def test_stats_app_counts_the_web_process_database_requests(run: Any, store: Store) -> None:
    async def scenario(client: Client) -> list[Any]:
        await rotate(client)
        app = (await (await client.get("/v1/stats/app", headers=APIKEY)).json())["stats"]["app"]
        text = await (await client.get("/v1/stats/app?format=prometheus", headers=APIKEY)).text()
        return [app, text]

    app, text = run(scenario)
    assert values(app, "db_request_duration_us_count")["[]"] >= 2  # the login's store calls at least
    assert values(app, "db_request_duration_us_sum")["[]"] > 0
    assert values(app, "db_request_error_duration_us_count") == {"[]": 0}
    assert app["db_request_error_duration_us_sum"]["type"] == "counter"
    assert "# TYPE db_request_error_duration_us_count counter" in text
    assert "db_request_error_duration_us_sum 0" in text


def test_with_the_database_down_stats_app_still_answers_with_failing_db_requests(tmp_path: Path) -> None:
    def down() -> Any:
        raise ConnectionRefusedError("db down")

    for multiconnect in (False, True):
        settings = WebSettings(certs_dir=tmp_path, api_key=API_KEY, multiconnect=multiconnect)
        app = create_app(Store(down, Dialect("SQLITE")), settings)

        async def scenario(client: Client) -> tuple[int, Any]:
            await client.get("/v1/health", headers=APIKEY)  # 503, and one more failed request
            response = await client.get("/v1/stats/app", headers=APIKEY)
            return response.status, await response.json()

        status, body = serve(app, scenario)
        assert status == 200
        stats = body["stats"]["app"]
        metrics = stats["waweb"] if multiconnect else stats
        assert values(metrics, "db_request_error_duration_us_count") == {"[]": 2}
        assert values(metrics, "db_request_duration_us_count") == {"[]": 0}
        assert values(metrics, "db_request_error_duration_us_sum")["[]"] > 0
