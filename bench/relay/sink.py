"""A counting downstream for the end-to-end benchmark: `python -m bench.relay.sink HOST:PORT SECRET_FILE`.

POST /hook counts deliveries (verifying every 100th Standard Webhooks signature, to keep the sink cheap
on a shared 2-core machine); GET /count answers `<delivered> <bad signatures>`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import uvloop
from aiohttp import web

from onprem.relay.signing import parse_secrets, verify_headers
from onprem.sidecar import split_listen


def main(argv: list[str]) -> None:
    host, port = split_listen(argv[0])
    keys = parse_secrets(Path(argv[1]).read_text())
    counts = {"delivered": 0, "bad": 0}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        counts["delivered"] += 1
        if counts["delivered"] % 100 == 0:
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not verify_headers(keys, headers, body, now=time.time()):
                counts["bad"] += 1
        return web.Response(status=204)

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=f"{counts['delivered']} {counts['bad']}")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", count)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, backlog=1024).start()
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
        loop.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
