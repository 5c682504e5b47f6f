"""Assembly and lifetime of a running relay: store, dispatcher, purge loop and HTTP listener."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from onprem.errors import ConfigError, ServeError
from onprem.relay.acmeissue import AcmeIssuer, ChallengeTokens
from onprem.relay.delivery import Dispatcher, Transport
from onprem.relay.http01 import Http01App
from onprem.relay.http1 import Http1Transport
from onprem.relay.metrics import RelayMetrics
from onprem.relay.policy import RetryPolicy
from onprem.relay.publictls import CertificateSlot, load_served
from onprem.relay.renewal import Renewer
from onprem.relay.secretfiles import RelaySecrets, load_secrets
from onprem.relay.server import RelayApp
from onprem.relay.settings import ChainCertificateSettings, RelaySettings, TlsSettings
from onprem.relay.store import RelayStoreError, Store, open_store
from onprem.sidecar import listen_hosts, run_server

log = logging.getLogger("onprem.relay")
GC_GEN0_THRESHOLD = 100_000


class RelayStartError(ServeError):
    """The relay could not start: store unusable or address in use. Exit code 7."""


@dataclass
class Seams:
    """Everything from outside a relay needs, replaceable in tests."""

    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    transport: Transport = field(default_factory=Http1Transport)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """A server TLS context from the cert/key files. Raises ConfigError when they can't be loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"relay.tls: cannot load {tls.cert_file} / {tls.key_file} ({exc})") from None
    return context


def retry_policy(settings: RelaySettings) -> RetryPolicy:
    """The retry policy of the settings' delivery section."""
    d = settings.delivery
    return RetryPolicy(
        max_attempts=d.max_attempts,
        max_age_seconds=d.max_age_seconds,
        backoff_base_seconds=d.backoff_base_seconds,
        backoff_max_seconds=d.backoff_max_seconds,
        retry_after_max_seconds=d.retry_after_max_seconds,
    )


class Relay:
    """One relay process's parts, started and stopped together."""

    def __init__(
        self,
        settings: RelaySettings,
        secrets: RelaySecrets,
        seams: Seams,
        store: Callable[[RelayMetrics], Store] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = RelayMetrics()
        self._seams = seams
        self.store: Store = (
            store(self.metrics)
            if store is not None
            else open_store(settings, clock=seams.clock, on_batch=self.metrics.commit_batch.observe)
        )
        self.dispatcher = Dispatcher(
            self.store,
            seams.transport,
            settings.delivery.endpoints,
            secrets.endpoint_keys,
            retry_policy(settings),
            self.metrics,
            clock=seams.clock,
            rand=seams.rand,
            poll_interval=settings.delivery.poll_interval_seconds,
        )
        self.app = RelayApp(
            settings, secrets, self.store, self.metrics, dispatcher=self.dispatcher, clock=seams.clock
        )
        self._runner: web.AppRunner | None = None
        self._public_runners: list[web.AppRunner] = []
        self._purger: asyncio.Task[None] | None = None
        self._renewing: asyncio.Task[None] | None = None
        self.slot = CertificateSlot()
        self.tokens = ChallengeTokens()
        self.renewer: Renewer | None = None
        public = settings.public
        if public is not None and public.acme is not None:
            issuer = AcmeIssuer(public.acme, public.host_name, self.tokens)
            self.renewer = Renewer(
                public.acme, self.slot, issuer, self.metrics, clock=seams.clock, sleep=seams.sleep
            )

    async def start(
        self,
        host: str,
        port: int,
        *,
        public: tuple[str, int] | None = None,
        http01: tuple[str, int] | None = None,
    ) -> None:
        """Open the store, start delivery, then listen (and on `public`/`http01`, the public HTTPS and
        HTTP listeners, when the settings have `public`; default: their configured ports on bind_address
        or loopback). Raises RelayStartError or ConfigError."""
        tls = ssl_context(self.settings.tls) if self.settings.tls is not None else None
        self._load_public_chain()
        try:
            await self.store.open()
        except RelayStoreError as exc:
            raise RelayStartError(f"relay: {exc}") from None
        self.dispatcher.start(self.store.disabled)
        self._purger = asyncio.create_task(self._purge_loop())
        # auto_decompress=False: gzip is inflated by payload.decode_body, under the body limit.
        self._runner = web.AppRunner(
            self.app.build(),
            access_log=None,
            auto_decompress=False,
            keepalive_timeout=self.settings.limits.keepalive_timeout_seconds,
            handle_signals=False,
        )
        await self._runner.setup()
        try:
            for address in listen_hosts(host):
                await web.TCPSite(self._runner, address, port, ssl_context=tls, backlog=1024).start()
        except OSError as exc:
            await self.stop()
            raise RelayStartError(f"relay: cannot listen on {host}:{port} ({exc.strerror})") from None
        if self.settings.public is not None:
            await self._start_public(public, http01)

    def _load_public_chain(self) -> None:
        cert = self.settings.public.certificate if self.settings.public is not None else None
        if isinstance(cert, ChainCertificateSettings):
            served = load_served(cert.chain_file, cert.key_file)
            self.slot.swap(served)
            self.metrics.public_not_after.set(served.not_after)

    async def _start_public(self, public: tuple[str, int] | None, http01: tuple[str, int] | None) -> None:
        settings = self.settings.public
        assert settings is not None
        address = settings.bind_address or "127.0.0.1"
        public = public or (address, settings.port)
        http01 = http01 or (address, settings.http01_port)
        listeners = [
            (self.app.build_public(), public, self.slot.listener_context),
            (Http01App(self.tokens, settings.host_name, settings.port).build(), http01, None),
        ]
        for app, (bind, bind_port), context in listeners:
            runner = web.AppRunner(
                app,
                access_log=None,
                auto_decompress=False,
                keepalive_timeout=self.settings.limits.keepalive_timeout_seconds,
                handle_signals=False,
            )
            await runner.setup()
            self._public_runners.append(runner)
            try:
                for listen in listen_hosts(bind):
                    await web.TCPSite(runner, listen, bind_port, ssl_context=context, backlog=1024).start()
            except OSError as exc:
                await self.stop()
                raise RelayStartError(
                    f"relay: cannot listen on {bind}:{bind_port} for relay.public ({exc.strerror})"
                ) from None
        if self.renewer is not None:
            self.renewer.load_stored()
            self._renewing = asyncio.create_task(self.renewer.run())

    async def stop(self) -> None:
        """Stop renewing and listening, then delivery, then flush and close the store."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        for runner in self._public_runners:
            await runner.cleanup()
        self._public_runners = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await self.dispatcher.stop()
        await self._seams.transport.close()
        await self.store.close()

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.store.purge_interval_seconds)
            try:
                deleted = await self.store.purge()
            except RelayStoreError as exc:
                log.warning("relay: purge failed: %s", exc)
            else:
                if deleted:
                    log.info("relay: purged %d delivered events past retention", deleted)


async def serve_forever(
    settings: RelaySettings,
    host: str,
    port: int,
    seams: Seams | None = None,
    store: Callable[[RelayMetrics], Store] | None = None,
    *,
    public: tuple[str, int] | None = None,
    http01: tuple[str, int] | None = None,
) -> None:
    """Run a relay until SIGTERM or SIGINT. Raises ConfigError (secrets, TLS) or RelayStartError.

    `store` builds another Store than the one the settings name (the benchmarks compare variants this way).
    """
    secrets = load_secrets(settings)
    relay = Relay(settings, secrets, seams or Seams(), store)
    await relay.start(host, port, public=public, http01=http01)
    # The collector's pauses were the ack latency's p99 under load: move what exists now out of its sight
    # and collect the youngest generation less often (the hot path allocates many short-lived objects).
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 50)
    log.info("relay: listening on %s:%d (%s)", host, port, "https" if settings.tls else "http")
    if settings.public is not None:
        log.info(
            "relay: public face https://%s (%s)",
            settings.public.host_name,
            settings.public.certificate.source,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.stop()


def run(
    settings: RelaySettings,
    host: str,
    port: int,
    store: Callable[[RelayMetrics], Store] | None = None,
    *,
    public: tuple[str, int] | None = None,
    http01: tuple[str, int] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, on uvloop when available (the fast path)."""
    run_server(serve_forever(settings, host, port, store=store, public=public, http01=http01))
