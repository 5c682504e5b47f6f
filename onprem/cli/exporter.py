"""`onprem exporter serve|collect`: the Prometheus exporter sidecar (runs in the project image)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from onprem.exporter.settings import ExporterSettings


settings_option = click.option(
    "--settings",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The exporter's own settings file (exporter.yaml, rendered from onprem.yaml); defaults apply "
    "when omitted.",
)


def _logging(level: str, fmt: str) -> None:
    import logging
    import sys

    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)


def _settings(config: Path | None, listen: str | None) -> ExporterSettings:
    from onprem.errors import ConfigError
    from onprem.exporter.settings import ExporterSettings, load_settings
    from onprem.sidecar import split_listen

    settings = load_settings(config) if config is not None else ExporterSettings()
    if listen is not None:
        try:
            split_listen(listen)
        except ValueError as exc:
            raise ConfigError(f"--listen: {exc}") from None
        settings = settings.model_copy(update={"listen": listen})
    return settings


@click.group()
def exporter() -> None:
    """The Prometheus exporter sidecar (scrape-time collection from the client's web API)."""


@exporter.command()
@settings_option
@click.option("--listen", metavar="HOST:PORT", help="Address to serve on (overrides the config's `listen`).")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def serve(config: Path | None, listen: str | None, log_level: str) -> None:
    """Serve /metrics and /healthz (127.0.0.1:9108 unless configured)."""
    from onprem.errors import ServeError
    from onprem.exporter.server import serve as serve_forever

    settings = _settings(config, listen)
    _logging(log_level, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from onprem.sidecar import run_server

        run_server(serve_forever(settings))
    except OSError as exc:
        raise ServeError(f"exporter: cannot listen on {settings.listen}: {exc.strerror or exc}") from None


@exporter.command()
@settings_option
@click.option("--timeout", type=float, default=None, help="Deadline in seconds (default: the config's).")
def collect(config: Path | None, timeout: float | None) -> None:
    """Collect once from the upstream and print the exposition text (for debugging and promtool)."""
    from onprem.exporter.server import make_scraper

    settings = _settings(config, None)
    _logging("warning", "%(levelname)s %(name)s: %(message)s")
    budget = timeout if timeout is not None else settings.scrape_timeout_seconds

    async def once() -> None:
        scraper = make_scraper(settings)
        try:
            click.echo((await scraper.scrape(budget)).decode(), nl=False)
        finally:
            await scraper.close()
            await scraper.client.transport.close()

    from onprem.sidecar import run_server

    run_server(once())


COMMANDS = [exporter]
