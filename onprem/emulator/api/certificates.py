"""`GET /v1/certificates/external/ca`: the PEM of the CA that signed the web server's certificate.

Like the real client it needs no authentication (it is public) and reads the file the web role keeps
under `certs/external/ca.pem`; without one it answers 404 with an empty body.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from onprem.emulator.context import context_of
from onprem.emulator.tls import CA_FILE


async def external_ca(request: web.Request) -> web.Response:
    """The CA certificate as text/plain PEM, or 404 with no body."""
    path = context_of(request).settings.certs_dir / CA_FILE
    try:
        pem = await asyncio.to_thread(path.read_text, encoding="ascii")
    except (FileNotFoundError, NotADirectoryError):
        return web.Response(status=404)
    return web.Response(text=pem, content_type="text/plain")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/certificates/external/ca", external_ca)
