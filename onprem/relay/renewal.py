"""When to renew the public certificate (pure), and the background task that does it.

A certificate is renewed once fewer than `renew_before_days` remain, or a third of its lifetime for
certificates shorter than three times that (test CAs issue certificates of minutes). A failed order is
retried after a doubling wait (retry_min_seconds .. retry_max_seconds) while the current certificate keeps
being served. The clock and the sleep are injected; issuance (blocking) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from onprem.errors import ConfigError
from onprem.relay.acmeissue import AcmeError, AcmeIssuer, CertificateFiles
from onprem.relay.metrics import RelayMetrics
from onprem.relay.publictls import CertificateSlot, Served, load_served
from onprem.relay.settings import AcmeCertificateSettings

log = logging.getLogger("onprem.relay.public")
RENEW_FRACTION = 1 / 3
MAX_SLEEP_SECONDS = 3600.0  # wake at least hourly: a clock jump or a suspended host must not skip a renewal


def renew_at(not_before: float, not_after: float, renew_before_days: float) -> float:
    """The Unix time from which a certificate valid from `not_before` to `not_after` is due for renewal."""
    lifetime = max(not_after - not_before, 0.0)
    return not_after - min(renew_before_days * 86400.0, lifetime * RENEW_FRACTION)


def retry_delay(failures: int, minimum: float, maximum: float) -> float:
    """Seconds to wait after `failures` consecutive failed orders (1, 2, ...): doubling, capped."""
    return min(minimum * 2.0 ** max(failures - 1, 0), maximum)


async def in_daemon_thread(work: Callable[[], CertificateFiles]) -> CertificateFiles:
    """Run blocking `work` in a daemon thread. Cancelling the wait abandons the thread: a relay told to
    stop mid-order exits at once instead of waiting out the CA (asyncio's default executor is joined at
    exit). An abandoned order at worst leaves a new key beside the old chain, which `load_stored` refuses
    and re-orders."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[CertificateFiles] = loop.create_future()

    def settle(result: CertificateFiles | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            assert result is not None
            done.set_result(result)

    def main() -> None:
        try:
            outcome: tuple[CertificateFiles | None, BaseException | None] = (work(), None)
        except BaseException as exc:  # handed to the waiting coroutine, which decides
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=main, name="acme-order", daemon=True).start()
    return await done


def next_step(served: Served | None, now: float, renew_before_days: float) -> float:
    """Seconds until the certificate is due (0: order now; no certificate is always due)."""
    if served is None:
        return 0.0
    return max(renew_at(served.not_before, served.not_after, renew_before_days) - now, 0.0)


class Renewer:
    """Keeps the slot's certificate fresh from an ACME CA, for as long as `run` runs."""

    def __init__(
        self,
        settings: AcmeCertificateSettings,
        slot: CertificateSlot,
        issuer: AcmeIssuer,
        metrics: RelayMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._slot = slot
        self._issuer = issuer
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self.failures = 0

    def load_stored(self) -> bool:
        """Serve the certificate kept from an earlier run, if any and still valid. False otherwise."""
        files = self._issuer.files
        if not files.exist():
            return False
        try:
            served = load_served(str(files.chain), str(files.key))
        except ConfigError as exc:
            log.warning("relay: the stored public certificate is unusable, ordering a new one: %s", exc)
            return False
        if served.not_after <= self._clock():
            return False
        self._install(served)
        return True

    async def run(self) -> None:
        """Renew when due, forever (cancel to stop)."""
        while True:
            wait = next_step(self._slot.current, self._clock(), self._settings.renew_before_days)
            if wait <= 0:
                wait = await self.renew_once()
            wait = min(wait, MAX_SLEEP_SECONDS)
            self._metrics.public_next_attempt.set(self._clock() + wait)
            await self._sleep(wait)

    async def renew_once(self) -> float:
        """Order, store and serve a new certificate; seconds until the next check (a retry delay after a
        failure). Never raises for CA trouble: the current certificate stays in service."""
        try:
            files = await in_daemon_thread(self._issuer.issue)
            served = load_served(str(files.chain), str(files.key))
        except (AcmeError, OSError, ConfigError) as exc:
            self.failures += 1
            self._metrics.public_renewals.labels("failure").inc()
            delay = retry_delay(
                self.failures, self._settings.retry_min_seconds, self._settings.retry_max_seconds
            )
            log.warning(
                "relay: public certificate order failed (%d in a row), retrying in %.0f s: %s",
                self.failures,
                delay,
                exc,
            )
            return delay
        self.failures = 0
        self._metrics.public_renewals.labels("success").inc()
        verb = "renewed" if self._slot.current is not None else "obtained"
        self._install(served)
        log.info(
            "relay: public certificate %s, valid until %s",
            verb,
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(served.not_after)),
        )
        return next_step(served, self._clock(), self._settings.renew_before_days)

    def _install(self, served: Served) -> None:
        self._slot.swap(served)
        self._metrics.public_not_after.set(served.not_after)
