"""The public plain-HTTP listener: ACME HTTP-01 answers, and a redirect to HTTPS for everything else.

The redirect names the configured host name, never the request's Host header (which would make the
relay an open redirector), and uses 308 so that a POST stays a POST.
"""

from __future__ import annotations

import re

from aiohttp import web

from onprem.relay.acmeissue import ChallengeTokens

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # base64url, as RFC 8555 section 8.3 defines tokens


def https_origin(host_name: str, port: int) -> str:
    """`https://host[:port]`, the port left out when it is 443."""
    return f"https://{host_name}" if port == 443 else f"https://{host_name}:{port}"


class Http01App:
    """Handlers of the HTTP listener, bound to the pending challenge answers."""

    def __init__(self, tokens: ChallengeTokens, host_name: str, https_port: int) -> None:
        self._tokens = tokens
        self._origin = https_origin(host_name, https_port)

    def build(self) -> web.Application:
        """The aiohttp application: the challenge route, then a redirect for every other request."""
        app = web.Application(client_max_size=4096)
        app.router.add_get(CHALLENGE_PREFIX + "{token}", self.challenge)
        app.router.add_route("*", "/{tail:.*}", self.redirect)
        return app

    async def challenge(self, request: web.Request) -> web.Response:
        """The key authorization of a pending token (text/plain), else 404."""
        token = request.match_info["token"]
        answer = self._tokens.answer(token) if _TOKEN.fullmatch(token) else None
        if answer is None:
            return web.Response(status=404, text="no such challenge\n")
        return web.Response(text=answer, content_type="text/plain")

    async def redirect(self, request: web.Request) -> web.Response:
        """308 to the same path and query on the HTTPS listener."""
        location = self._origin + request.rel_url.raw_path_qs
        return web.Response(status=308, headers={"Location": location, "Connection": "close"})
