"""The Cloud API emulator's aiohttp application and its serving.

`create_app` takes its seams (store, settings, secrets, clock, HTTP client) as arguments, so tests build
the same app in-process. Every failure leaves as the Graph error envelope; anything unexpected is logged
and answered 500 (code 1, "An unknown error occurred"), never with a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from onprem.emulator.cloud import graph_errors as errors
from onprem.emulator.cloud import media, messages, numbers, subscriptions
from onprem.emulator.cloud.context import CONTEXT, Clock, CloudContext, context_of
from onprem.emulator.cloud.delivery import Deliverer, Sleep
from onprem.emulator.cloud.outbound import HttpClient
from onprem.emulator.cloud.settings import CloudEmulatorSettings, CloudSecrets
from onprem.emulator.cloud.store import CloudStore
from onprem.errors import ServeError

log = logging.getLogger("onprem.emulator.cloud")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VERSION = r"{version:v[0-9]{1,2}\.[0-9]}"
MAX_BODY = media.MAX_MEDIA + 1024 * 1024


def _error(failure: errors.GraphError) -> web.Response:
    return web.json_response(failure.body(), status=failure.status)


@web.middleware
async def graph_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the Graph error envelope."""
    try:
        return await handler(request)
    except errors.GraphError as failure:
        return _error(failure)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return _error(errors.unknown_path(request.path))
        if exc.status == 405:
            return _error(errors.GraphError(400, 100, f"(#100) Unsupported {request.method.lower()} request"))
        if exc.status == 413:
            return _error(errors.invalid_param("The request body is too large"))
        return _error(errors.GraphError(exc.status, 100, exc.reason))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _error(errors.GraphError(500, 1, "An unknown error occurred", error_type="OAuthException"))


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request (no query string: it may carry an access token)."""
    started = time.monotonic()
    response = await handler(request)
    log.info(
        "%s %s -> %d (%.1f ms)",
        request.method,
        request.path,
        response.status,
        (time.monotonic() - started) * 1e3,
    )
    return response


async def healthz(request: web.Request) -> web.Response:
    context_of(request).store.next_due()  # the database answers
    return web.json_response({"status": "ok"})


async def state(request: web.Request) -> web.Response:
    """Test-only: the emulator's whole state (no secrets: no tokens, no PIN hashes, no media bytes)."""
    ctx = context_of(request)
    dump = ctx.store.dump()
    dump["phone_numbers"] = [number.model_dump() for number in ctx.settings.phone_numbers]
    return web.json_response(dump)


def create_app(
    store: CloudStore,
    settings: CloudEmulatorSettings,
    secrets: CloudSecrets,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
    http: HttpClient | None = None,
    deliver: bool = True,
) -> web.Application:
    """The emulator's application over `store`. With `deliver`, a background task sends webhooks while
    the app runs (tests that drive delivery themselves pass False and call the Deliverer)."""
    client = http if http is not None else HttpClient(settings.ca_file)
    deliverer = Deliverer(store, settings, secrets.app_secret, client, clock=clock, sleep=sleep)
    app = web.Application(middlewares=[access_log, graph_errors], client_max_size=MAX_BODY)
    app[CONTEXT] = CloudContext(
        store=store, settings=settings, secrets=secrets, http=client, deliverer=deliverer, clock=clock
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/__emulator/state", state)
    for module in (numbers, messages, media, subscriptions):
        module.add_routes(app, VERSION)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(deliverer.run()) if deliver else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await client.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def server_ssl(settings: CloudEmulatorSettings) -> ssl.SSLContext | None:
    """The serving TLS context when the settings ask for HTTPS (raises OSError/SSLError if unreadable)."""
    if settings.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls.cert_file, settings.tls.key_file)
    return context


async def serve(app: web.Application, hosts: list[str], port: int, tls: ssl.SSLContext | None) -> None:
    """Serve `app` on each of `hosts` at `port` until SIGTERM or SIGINT, then stop delivery and close
    cleanly. Raises ServeError when an address cannot be bound."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        try:
            for host in hosts:
                await web.TCPSite(runner, host, port, ssl_context=tls).start()
        except OSError as exc:
            raise ServeError(
                f"cloud emulator: cannot listen on {host}:{port} ({exc.strerror or exc})"
            ) from None
        log.info(
            "Cloud API emulator listening on %s port %d (%s)",
            ", ".join(hosts),
            port,
            "https" if tls else "http",
        )
        await stop.wait()
    finally:
        await runner.cleanup()
