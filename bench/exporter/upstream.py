"""A fake client web API for the exporter benchmark, in its own process: TLS, API key, moving counters.

`python -m bench.exporter.upstream --port P --nodes N --cert C --key K --api-key-file F` serves the answers
of `onprem.exporter.fakes.documents(N)` (pre-encoded, several generations so counters move) until killed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import ssl
from pathlib import Path

from aiohttp import web

from onprem.exporter.fakes import documents

GENERATIONS = 8


def app(nodes: int, api_key: str) -> web.Application:
    """The fake upstream: each GET answers the next generation of its pre-encoded document."""
    encoded = [
        {path: json.dumps(doc).encode() for path, doc in documents(nodes, scale=scale).items()}
        for scale in range(1, GENERATIONS + 1)
    ]
    turns = itertools.cycle(range(GENERATIONS))
    expected = f"Apikey {api_key}"

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        body = encoded[next(turns)].get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/json")

    application = web.Application()
    application.router.add_get("/{tail:.*}", handle)
    return application


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--api-key-file", required=True)
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    api_key = Path(args.api_key_file).read_text().strip()
    web.run_app(
        app(args.nodes, api_key),
        host="127.0.0.1",
        port=args.port,
        ssl_context=context,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
