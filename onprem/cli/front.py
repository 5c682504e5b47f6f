"""`onprem front serve`: the web front sidecar that holds the API's published port (runs in the project
image; see onprem/front.py)."""

from __future__ import annotations

import click


@click.group()
def front() -> None:
    """The web front: holds the API's port and relays each connection to a running web container."""


@front.command()
@click.option(
    "--listen", default="container:8443", show_default=True, metavar="HOST:PORT", help="Address to serve on."
)
@click.option(
    "--upstream",
    default="waweb:443",
    show_default=True,
    metavar="NAME:PORT",
    help="The web service and port.",
)
def serve(listen: str, upstream: str) -> None:
    """Relay TCP connections (TLS untouched) to the web app's containers until stopped."""
    import logging
    import sys

    from onprem.errors import ConfigError, ServeError
    from onprem.front import serve as serve_forever
    from onprem.sidecar import listen_hosts, run_server, split_listen

    try:
        host, port = split_listen(listen)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from None
    try:
        name, upstream_port = split_listen(upstream)
    except ValueError as exc:
        raise ConfigError(f"--upstream: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        run_server(serve_forever(listen_hosts(host), port, name, upstream_port))
    except OSError as exc:
        raise ServeError(f"front: cannot listen on {listen}: {exc.strerror or exc}") from None


COMMANDS = [front]
