"""`onprem emulator web|core`: run one role of the emulated client, configured like the real one.

Both read the real client's env vars (WA_DB_*, WA_API_KEY, WA_APP_MULTICONNECT, ...); flags cover what
the real images fix (ports, paths) so tests and demos can run several on one host. The client version
(ONPREM_EMULATOR_VERSION, set by the image) decides the database schema; `core` with WA_DB_UPGRADE=1 is
the one-shot upgrade.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from onprem.emulator.env import EmulatorEnv

F = TypeVar("F", bound=Callable[..., Any])

_LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"])


def _common(func: F) -> F:
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on."),
        click.option(
            "--data-dir",
            metavar="DIR",
            help="Certificates and SQLite state [env ONPREM_EMULATOR_DATA_DIR; default "
            "/usr/local/waent/data when writable, else a temp dir].",
        ),
        click.option(
            "--state",
            metavar="FILE",
            help="SQLite state file when WA_DB_ENGINE is unset [env ONPREM_EMULATOR_SQLITE].",
        ),
        click.option(
            "--db-wait",
            type=click.FloatRange(min=0),
            help="Seconds to wait for the database server [env ONPREM_EMULATOR_DB_WAIT; default 120].",
        ),
        click.option("--log-level", type=_LOG_LEVELS, default="info", show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _setup(log_level: str) -> EmulatorEnv:
    import logging
    import socket
    import sys

    from onprem.emulator.env import parse_env

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return parse_env(os.environ, default_hostname=socket.gethostname())


@click.group()
def emulator() -> None:
    """The emulated WhatsApp Business On-Premises client (roles `web` and `core`)."""


@emulator.command()
@_common
@click.option("--port", type=click.IntRange(0, 65535), default=443, show_default=True, help="HTTPS port.")
@click.option(
    "--sunset",
    is_flag=True,
    help="Answer registration as the sunset client does [env ONPREM_EMULATOR_SUNSET=1].",
)
def web(
    host: str,
    data_dir: str | None,
    state: str | None,
    db_wait: float | None,
    log_level: str,
    port: int,
    sunset: bool,
) -> None:
    """Serve the REST API over HTTPS (self-signed CA at /v1/certificates/external/ca)."""
    import dataclasses

    from onprem.emulator.runtime import open_store, place, serve_web
    from onprem.errors import ConfigError

    env = _setup(log_level)
    if env.db_upgrade:
        raise ConfigError("WA_DB_UPGRADE=1: only a one-shot coreapp upgrades the database; unset it for web")
    if sunset:
        env = dataclasses.replace(env, sunset=True)
    placement = place(env, data_dir=data_dir, state=state)
    store = open_store(env, placement, wait_seconds=env.db_wait_seconds if db_wait is None else db_wait)
    from onprem.sidecar import run_server

    run_server(serve_web(env, store, placement, host=host, port=port))


@emulator.command()
@_common
@click.option(
    "--ports",
    default="6250,6251,6252,6253",
    show_default=True,
    help="Comma-separated ports to listen on (messaging, contacts, control, healthcheck).",
)
def core(
    host: str, data_dir: str | None, state: str | None, db_wait: float | None, log_level: str, ports: str
) -> None:
    """Run a core node: heartbeat into the shared database and listen on the coreapp ports. With
    WA_DB_UPGRADE=1, upgrade the database to this client version's schema instead and exit 0.
    """
    from onprem.emulator.env import parse_ports
    from onprem.emulator.runtime import open_store, place, serve_core, upgrade_database
    from onprem.errors import ConfigError

    problems: list[str] = []
    port_list = parse_ports(ports, "--ports", problems)
    if problems:
        raise ConfigError(problems)
    env = _setup(log_level)
    placement = place(env, data_dir=data_dir, state=state)
    wait_seconds = env.db_wait_seconds if db_wait is None else db_wait
    if env.db_upgrade:
        upgrade_database(env, placement, wait_seconds=wait_seconds)
        return
    store = open_store(env, placement, wait_seconds=wait_seconds)
    from onprem.sidecar import run_server

    run_server(serve_core(env, store, host=host, ports=port_list))


@emulator.command()
@click.option("--from", "sender", required=True, help="The user's phone number or wa_id.")
@click.option("--text", required=True, help="The message text.")
@click.option("--name", default="", help="The user's profile name (default: the wa_id).")
@click.option("--data-dir", metavar="DIR", help="As for `web`/`core` (SQLite state lives there).")
@click.option("--state", metavar="FILE", help="SQLite state file when WA_DB_ENGINE is unset.")
@click.option("--db-wait", type=click.FloatRange(min=0), default=10.0, show_default=True)
def inject(
    sender: str, text: str, name: str, data_dir: str | None, state: str | None, db_wait: float
) -> None:
    """Inject an inbound text message from a user (test/demo channel): it opens the user's 24-hour
    window and queues the inbound callback. Reads the same env as `web`/`core` (WA_DB_*); inside a
    deployed container run it through /onprem/secret-env.sh so the DB password is in the env.
    """
    import time

    from onprem.emulator.inject import InjectError, inject_inbound
    from onprem.emulator.runtime import open_store, place
    from onprem.errors import ConfigError

    env = _setup("warning")
    store = open_store(env, place(env, data_dir=data_dir, state=state), wait_seconds=db_wait)
    try:
        message_id = inject_inbound(
            store, sender, text, name=name, multiconnect=env.multiconnect, now=time.time()
        )
    except InjectError as exc:
        raise ConfigError(f"cannot inject: {exc}") from None
    finally:
        store.close()
    click.echo(message_id)


@emulator.command()
@click.option(
    "--settings",
    "settings_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The Cloud API emulator's settings file (cloudapi.yaml, rendered from onprem.yaml).",
)
@click.option("--listen", default=None, metavar="HOST:PORT", help="Override the settings' listen address.")
@click.option("--log-level", type=_LOG_LEVELS, default="info", show_default=True)
def cloud(settings_file: Path, listen: str | None, log_level: str) -> None:
    """Serve the emulated WhatsApp Cloud API (Graph API subset) and send its signed webhooks."""
    import logging
    import sqlite3
    import ssl
    import sys

    from onprem.emulator.cloud.app import create_app, serve, server_ssl
    from onprem.emulator.cloud.settings import load_secrets, load_settings
    from onprem.emulator.cloud.store import CloudStore
    from onprem.errors import ConfigError, StateError
    from onprem.sidecar import listen_hosts, run_server, split_listen

    settings = load_settings(settings_file)
    try:
        host, port = split_listen(listen or settings.listen)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from None
    secrets = load_secrets(settings)
    try:
        tls = server_ssl(settings)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{settings_file}: tls: cannot load the certificate or key ({exc})") from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        store = CloudStore(settings.database)
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cloud emulator: cannot open the database {settings.database} ({exc})") from None
    try:
        app = create_app(store, settings, secrets)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{settings_file}: ca_file: cannot load {settings.ca_file} ({exc})") from None
    try:
        run_server(serve(app, listen_hosts(host), port, tls))
    finally:
        store.close()


COMMANDS = [emulator]
