"""Certificates: the web CA (`GET /v1/certificates/external/ca`), an uploaded server certificate
(`POST /v1/certificates/external`) and the webhook CA (`GET|POST|DELETE /v1/certificates/webhooks/ca`).

`external/ca` is public, like the real client's, and serves `certs/external/ca.pem` (404 with an empty
body without one). An uploaded bundle must be key, certificate, >= 1 intermediate (else 400, 1009); it
is stored as `certs/external/uploaded.pem` (0600) and, as on the real client, used from the next start
of the web role only. Mismatched keys, broken chains or expired certificates are NOT refused here: the
web role then refuses to start (see `runtime.serve_web`), which is how a bad upload bricks the real one.
The webhook CA lives in the database (settings key `webhooks_ca`) where every core node reads it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from onprem.emulator.api.common import answer
from onprem.emulator.auth import require_admin
from onprem.emulator.certbundle import BundleError, parse_bundle, parse_ca_bundle
from onprem.emulator.context import context_of
from onprem.emulator.envelope import INVALID_PARAMETER, ApiFailure
from onprem.emulator.tls import CA_FILE, UPLOADED_FILE

WEBHOOKS_CA_KEY = "webhooks_ca"
MAX_PEM = 256 * 1024


async def external_ca(request: web.Request) -> web.Response:
    """The CA certificate as text/plain PEM, or 404 with no body."""
    path = context_of(request).settings.certs_dir / CA_FILE
    try:
        pem = await asyncio.to_thread(path.read_text, encoding="ascii")
    except (FileNotFoundError, NotADirectoryError):
        return web.Response(status=404)
    return web.Response(text=pem, content_type="text/plain")


async def _pem_body(request: web.Request) -> str:
    raw = await request.read()
    if len(raw) > MAX_PEM:
        raise ApiFailure(400, INVALID_PARAMETER, "The PEM body is too large.")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ApiFailure(400, INVALID_PARAMETER, "The body must be ASCII PEM text.") from None


def _store_uploaded(certs_dir: Path, text: str) -> None:
    certs_dir.mkdir(parents=True, exist_ok=True)
    path = certs_dir / UPLOADED_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(tmp, path)


async def upload_external(request: web.Request) -> web.Response:
    """Store a key + certificate + intermediates bundle for the next start of the web role."""
    await require_admin(request)
    text = await _pem_body(request)
    try:
        parse_bundle(text)
    except BundleError as exc:
        raise ApiFailure(400, INVALID_PARAMETER, f"Invalid certificate bundle: {exc}.") from None
    await asyncio.to_thread(_store_uploaded, context_of(request).settings.certs_dir, text)
    return answer(request)


async def get_webhooks_ca(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    pem = await ctx.db(ctx.store.get_setting, WEBHOOKS_CA_KEY)
    if not isinstance(pem, str):
        return web.Response(status=404)
    return web.Response(text=pem, content_type="text/plain")


async def upload_webhooks_ca(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    text = await _pem_body(request)
    try:
        parse_ca_bundle(text)
    except BundleError as exc:
        raise ApiFailure(400, INVALID_PARAMETER, f"Invalid CA certificate: {exc}.") from None
    await ctx.db(ctx.store.put_setting, WEBHOOKS_CA_KEY, text)
    return answer(request)


async def delete_webhooks_ca(request: web.Request) -> web.Response:
    await require_admin(request)
    ctx = context_of(request)
    await ctx.db(ctx.store.delete_setting, WEBHOOKS_CA_KEY)
    return answer(request)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/certificates/external/ca", external_ca)
    app.router.add_post("/v1/certificates/external", upload_external)
    app.router.add_get("/v1/certificates/webhooks/ca", get_webhooks_ca)
    app.router.add_post("/v1/certificates/webhooks/ca", upload_webhooks_ca)
    app.router.add_delete("/v1/certificates/webhooks/ca", delete_webhooks_ca)
