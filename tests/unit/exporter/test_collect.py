"""Scrape-time collection: whatsapp_up, per-collector outcomes, deadlines, coalescing, stats/db cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from onprem.exporter.collect import COLLECTORS, Scraper
from onprem.exporter.fakes import FAKE_NOT_AFTER, DownTransport, FakeTransport
from onprem.exporter.families import FamilyBuilder
from onprem.exporter.settings import StatsDbSettings
from onprem.exporter.transport import Transport, UpstreamResponse
from onprem.exporter.upstream import UpstreamAuth, UpstreamClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: bytes) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def scraper(transport: Transport, tmp_path: Path, **kwargs: object) -> Scraper:
    key = tmp_path / "key"
    key.write_text("k" * 24)
    credentials = UpstreamAuth(transport, api_key_file=str(key), login=None)
    return Scraper(UpstreamClient(transport, credentials), **kwargs)  # type: ignore[arg-type]


def success(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["collector"]: value
        for (name, labels), value in samples.items()
        if name == "whatsapp_exporter_collector_success"
    }


def test_a_healthy_upstream_gives_up_and_every_collector_succeeding(tmp_path: Path) -> None:
    found = parse(asyncio.run(scraper(FakeTransport(), tmp_path).scrape(1.0)))
    assert found[("whatsapp_up", ())] == 1.0
    assert success(found) == {"health": 1.0, "stats_app": 1.0, "metrics": 1.0, "certificate": 1.0}
    assert found[("whatsapp_tls_certificate_expiry_timestamp_seconds", ())] == FAKE_NOT_AFTER.timestamp()
    assert found[("whatsapp_callback_queue_size", ())] == 1.0
    assert found[("whatsapp_messages_sent_total", ())] == 50.0
    assert found[("whatsapp_messages_received_total", ())] == 40.0
    assert ("whatsapp_exporter_build_info", (("version", "0.1.0"),)) in found


def test_a_down_upstream_gives_up_0_and_failed_collectors(tmp_path: Path) -> None:
    found = parse(asyncio.run(scraper(DownTransport(), tmp_path).scrape(1.0)))
    assert found[("whatsapp_up", ())] == 0.0
    assert success(found) == {"health": 0.0, "stats_app": 0.0, "metrics": 0.0, "certificate": 0.0}


def test_garbage_health_gives_up_0_while_other_collectors_still_report(tmp_path: Path) -> None:
    fake = FakeTransport(overrides={"/v1/health": UpstreamResponse(200, b'{"health": 42}')})
    found = parse(asyncio.run(scraper(fake, tmp_path).scrape(1.0)))
    assert found[("whatsapp_up", ())] == 0.0
    assert success(found) == {"health": 0.0, "stats_app": 1.0, "metrics": 1.0, "certificate": 1.0}
    assert not any(name == "whatsapp_gateway_status" for name, _ in found)


def test_a_slow_upstream_is_cut_at_the_deadline(tmp_path: Path) -> None:
    fake = FakeTransport(delay=5.0)
    started = time.monotonic()
    found = parse(asyncio.run(scraper(fake, tmp_path).scrape(0.3)))
    assert time.monotonic() - started < 0.6
    assert found[("whatsapp_up", ())] == 0.0
    assert success(found) == {"health": 0.0, "stats_app": 0.0, "metrics": 0.0, "certificate": 0.0}


class SlowPaths(FakeTransport):
    def __init__(self, slow: dict[str, float]) -> None:
        super().__init__()
        self.slow = slow

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamResponse:
        await asyncio.sleep(self.slow.get(path, 0.0))
        return await super().request(method, path, headers=headers, body=body)


def test_one_slow_collector_does_not_take_the_others_down(tmp_path: Path) -> None:
    found = parse(asyncio.run(scraper(SlowPaths({"/v1/metrics": 5.0}), tmp_path).scrape(0.3)))
    assert found[("whatsapp_up", ())] == 1.0
    assert success(found) == {"health": 1.0, "stats_app": 1.0, "metrics": 0.0, "certificate": 1.0}


def test_concurrent_scrapes_share_one_collection(tmp_path: Path) -> None:
    fake = FakeTransport(delay=0.05)
    exporter = scraper(fake, tmp_path)

    async def burst() -> list[bytes]:
        return await asyncio.gather(*(exporter.scrape(1.0) for _ in range(10)))

    outputs = asyncio.run(burst())
    assert len(set(outputs)) == 1
    assert sorted(fake.paths()) == ["", "/v1/health", "/v1/metrics", "/v1/stats/app"]


def test_a_scrape_joining_a_longer_collection_still_answers_by_its_own_deadline(tmp_path: Path) -> None:
    fake = FakeTransport(delay=0.5)
    exporter = scraper(fake, tmp_path)

    async def scenario() -> tuple[bytes, bytes, float]:
        first = asyncio.ensure_future(exporter.scrape(2.0))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        second = await exporter.scrape(0.1)
        waited = time.monotonic() - started
        return await first, second, waited

    first, second, waited = asyncio.run(scenario())
    assert waited < 0.3
    assert parse(second)[("whatsapp_up", ())] == 0.0
    assert parse(first)[("whatsapp_up", ())] == 1.0


def test_stats_db_is_not_read_unless_enabled(tmp_path: Path) -> None:
    fake = FakeTransport()
    asyncio.run(scraper(fake, tmp_path, stats_db=StatsDbSettings()).scrape(1.0))
    assert "/v1/stats/db" not in fake.paths()


def test_stats_db_is_served_from_a_cache_with_its_age(tmp_path: Path) -> None:
    fake = SlowPaths({"/v1/stats/db": 0.02})
    now = [1000.0]
    settings = StatsDbSettings(enabled=True, cache_ttl_seconds=60)
    exporter = scraper(fake, tmp_path, stats_db=settings, clock=lambda: now[0])

    async def scenario() -> list[Samples]:
        first = parse(await exporter.scrape(1.0))  # starts the background refresh, answers without it
        await asyncio.sleep(0.05)
        now[0] += 30
        second = parse(await exporter.scrape(1.0))  # cached, 30 s old: no new request
        now[0] += 31
        third = parse(await exporter.scrape(1.0))  # stale: served, and a refresh starts
        await asyncio.sleep(0.05)
        await exporter.close()
        return [first, second, third]

    first, second, third = asyncio.run(scenario())
    assert ("whatsapp_stats_db_age_seconds", ()) not in first
    assert second[("whatsapp_stats_db_age_seconds", ())] == 30.0
    assert second[("whatsapp_db_messages", (("type", "sent"),))] == 50.0
    assert success(second)["stats_db"] == 1.0
    assert third[("whatsapp_stats_db_age_seconds", ())] == 61.0
    assert fake.paths().count("/v1/stats/db") == 2


def test_a_failing_stats_db_refresh_is_reported_without_failing_the_scrape(tmp_path: Path) -> None:
    fake = FakeTransport(overrides={"/v1/stats/db": UpstreamResponse(500, b"")})
    exporter = scraper(fake, tmp_path, stats_db=StatsDbSettings(enabled=True))

    async def scenario() -> Samples:
        await exporter.scrape(1.0)
        await asyncio.sleep(0.05)
        return parse(await exporter.scrape(1.0))

    found = asyncio.run(scenario())
    assert found[("whatsapp_up", ())] == 1.0
    assert success(found)["stats_db"] == 0.0
    assert ("whatsapp_stats_db_age_seconds", ()) not in found


def test_multiconnect_gateway_status_per_node_and_role(tmp_path: Path) -> None:
    from onprem.exporter.fakes import documents

    found = parse(asyncio.run(scraper(FakeTransport(bodies=documents(33)), tmp_path).scrape(1.0)))
    connected = {
        dict(labels)["role"]: value
        for (name, labels), value in found.items()
        if name == "whatsapp_gateway_status" and dict(labels)["status"] == "connected" and value == 1.0
    }
    assert set(connected) == {"primary_master", "primary_coreapp"}
    nodes = {dict(labels)["node"] for name, labels in found if name == "whatsapp_gateway_status"}
    assert len(nodes) == 33


def test_a_bug_in_one_collector_fails_only_that_collector(tmp_path: Path) -> None:
    async def broken(client: UpstreamClient, out: FamilyBuilder) -> None:
        raise TypeError("unexpected shape")

    collectors = {**COLLECTORS, "stats_app": broken}
    found = parse(asyncio.run(scraper(FakeTransport(), tmp_path, collectors=collectors).scrape(1.0)))
    assert found[("whatsapp_up", ())] == 1.0
    assert success(found)["stats_app"] == 0.0


def test_a_failing_collection_still_answers_with_up_0(tmp_path: Path) -> None:
    exporter = scraper(FakeTransport(), tmp_path)

    async def explode(budget: float) -> bytes:
        raise RuntimeError("bug")

    exporter._collect = explode  # type: ignore[method-assign]
    found = parse(asyncio.run(exporter.scrape(1.0)))
    assert found[("whatsapp_up", ())] == 0.0
