"""Scrape-time collection: run the collectors against the upstream within a deadline, encode the result.

Every scrape builds its families afresh (nothing is kept between scrapes but the `/v1/stats/db` cache and
the credentials). Collectors run concurrently; one that fails or overruns the deadline is reported through
`whatsapp_exporter_collector_success{collector}` = 0 without taking the others down, and `whatsapp_up` is
the health collector's success. Scrapes that arrive while one is in flight share its result, so a burst of
scrapes costs the upstream one round of requests. Whatever happens upstream, `scrape` returns within the
deadline with a valid exposition: it never raises for upstream trouble.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from onprem import __version__
from onprem.exporter.families import Family, FamilyBuilder, encode
from onprem.exporter.health import add_build_info, add_certificate, add_health, parse_health
from onprem.exporter.settings import StatsDbSettings
from onprem.exporter.translate import translate
from onprem.exporter.upstream import UpstreamClient

log = logging.getLogger(__name__)
CollectFn = Callable[[UpstreamClient, FamilyBuilder], Awaitable[None]]
# Share of the budget kept back so a collection always ends before the scrape that waits on it.
_MARGIN_SECONDS = 0.05


async def collect_health(client: UpstreamClient, out: FamilyBuilder) -> None:
    """Gateway status per node and build info from /v1/health."""
    document, _ = await client.get_json("/v1/health")
    add_health(parse_health(document), out)
    add_build_info(document, out)


async def collect_certificate(client: UpstreamClient, out: FamilyBuilder) -> None:
    """Expiry of the certificate the web endpoint presents."""
    add_certificate(await client.transport.certificate_expiry(), out)


async def collect_stats_app(client: UpstreamClient, out: FamilyBuilder) -> None:
    """Coreapp stats (queues, messages, callbacks) from /v1/stats/app."""
    document, _ = await client.get_json("/v1/stats/app")
    translate("app", document, out)


async def collect_web_metrics(client: UpstreamClient, out: FamilyBuilder) -> None:
    """Web container metrics (API request durations, connections) from /v1/metrics."""
    document, _ = await client.get_json("/v1/metrics")
    translate("web", document, out)


async def collect_stats_db(client: UpstreamClient, out: FamilyBuilder) -> None:
    """Database row counts from /v1/stats/db (slow: only ever run in the background)."""
    document, _ = await client.get_json("/v1/stats/db")
    translate("db", document, out)


COLLECTORS: dict[str, CollectFn] = {
    "health": collect_health,
    "stats_app": collect_stats_app,
    "metrics": collect_web_metrics,
    "certificate": collect_certificate,
}


@dataclass(frozen=True)
class Outcome:
    """How one collector did in one run."""

    name: str
    success: bool
    duration: float
    metrics: tuple[Family, ...] = ()
    error: str = ""


async def run_collector(
    name: str, fn: CollectFn, client: UpstreamClient, clock: Callable[[], float]
) -> Outcome:
    """Run `fn`; any exception becomes a failed Outcome (garbage upstream must never fail a scrape)."""
    started = clock()
    builder = FamilyBuilder()
    try:
        await fn(client, builder)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return Outcome(name, False, clock() - started, error=f"{type(exc).__name__}: {exc}")
    return Outcome(name, True, clock() - started, tuple(builder.build()))


class StatsDbCache:
    """`/v1/stats/db` refreshed in the background when older than the TTL; scrapes read the cache."""

    def __init__(self, client: UpstreamClient, settings: StatsDbSettings, clock: Callable[[], float]) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._outcome: Outcome | None = None
        self._fetched_at: float | None = None
        self._metrics: tuple[Family, ...] = ()

    def poll(self) -> None:
        """Start a refresh if the cache is empty or stale and none is running."""
        if self._task is not None and not self._task.done():
            return
        if (
            self._fetched_at is not None
            and self._clock() - self._fetched_at < self._settings.cache_ttl_seconds
        ):
            return
        self._task = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        async def bounded(client: UpstreamClient, out: FamilyBuilder) -> None:
            async with asyncio.timeout(self._settings.timeout_seconds):
                await collect_stats_db(client, out)

        outcome = await run_collector("stats_db", bounded, self._client, self._clock)
        _log_transition(self._outcome, outcome)
        self._outcome = outcome
        if outcome.success:
            self._metrics, self._fetched_at = outcome.metrics, self._clock()

    def add(self, metrics: list[Family], meta: FamilyBuilder) -> None:
        """Append the cached families, and the cache's age and last refresh's outcome."""
        metrics.extend(self._metrics)
        if self._fetched_at is not None:
            meta.gauge(
                "whatsapp_stats_db_age_seconds",
                "Age of the cached /v1/stats/db answer.",
                self._clock() - self._fetched_at,
            )
        if self._outcome is not None:
            _add_outcome(self._outcome, meta)

    async def close(self) -> None:
        """Cancel a running refresh."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Scraper:
    """Produces the exposition for one scrape; coalesces concurrent scrapes into one collection."""

    def __init__(
        self,
        client: UpstreamClient,
        *,
        stats_db: StatsDbSettings | None = None,
        collectors: dict[str, CollectFn] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._collectors = dict(COLLECTORS if collectors is None else collectors)
        self._clock = clock
        self._stats_db = StatsDbCache(client, stats_db, clock) if stats_db and stats_db.enabled else None
        self._inflight: asyncio.Future[bytes] | None = None
        self._last: dict[str, Outcome] = {}

    async def scrape(self, budget: float) -> bytes:
        """The exposition text, within `budget` seconds. Never raises for upstream trouble."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._collect(max(budget - _MARGIN_SECONDS, 0.001)))
        try:
            async with asyncio.timeout(budget):
                return await asyncio.shield(self._inflight)
        except TimeoutError:
            # Joined a collection that ends after our own deadline: answer with what we know (nothing).
            error = "deadline"
        except Exception:  # a bug must still give Prometheus whatsapp_up 0, not a 500
            log.exception("collection failed")
            error = "internal error"
        return self._encode([Outcome(name, False, budget, error=error) for name in self._collectors])

    async def _collect(self, budget: float) -> bytes:
        tasks = {
            name: asyncio.ensure_future(run_collector(name, fn, self.client, self._clock))
            for name, fn in self._collectors.items()
        }
        if self._stats_db is not None:
            self._stats_db.poll()
        done, pending = await asyncio.wait(tasks.values(), timeout=budget)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        outcomes = [
            task.result() if task in done else Outcome(name, False, budget, error="deadline")
            for name, task in tasks.items()
        ]
        for outcome in outcomes:
            _log_transition(self._last.get(outcome.name), outcome)
            self._last[outcome.name] = outcome
        return self._encode(outcomes)

    def _encode(self, outcomes: list[Outcome]) -> bytes:
        meta = FamilyBuilder()
        up = next((o.success for o in outcomes if o.name == "health"), False)
        meta.gauge(
            "whatsapp_up",
            "1 if the client's web API answered /v1/health with a health document.",
            1.0 if up else 0.0,
        )
        meta.gauge(
            "whatsapp_exporter_build_info", "Version of the onprem exporter.", 1.0, {"version": __version__}
        )
        metrics: list[Family] = []
        for outcome in outcomes:
            _add_outcome(outcome, meta)
            metrics.extend(outcome.metrics)
        if self._stats_db is not None:
            self._stats_db.add(metrics, meta)
        return encode([*meta.build(), *metrics])

    async def close(self) -> None:
        """Stop background work."""
        if self._stats_db is not None:
            await self._stats_db.close()


def _add_outcome(outcome: Outcome, meta: FamilyBuilder) -> None:
    labels = {"collector": outcome.name}
    meta.gauge(
        "whatsapp_exporter_collector_success",
        "1 if the collector's last run succeeded.",
        1.0 if outcome.success else 0.0,
        labels,
    )
    meta.gauge(
        "whatsapp_exporter_collector_duration_seconds",
        "How long the collector's last run took.",
        outcome.duration,
        labels,
    )


def _log_transition(before: Outcome | None, after: Outcome) -> None:
    # Log changes only: a down upstream scraped every 15 s must not flood the log.
    if after.success and before is not None and not before.success:
        log.info("collector %s recovered", after.name)
    elif not after.success and (before is None or before.success):
        log.warning("collector %s failing: %s", after.name, after.error)
