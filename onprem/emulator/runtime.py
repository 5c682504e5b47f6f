"""Running a role as a process: find the data directory, open the store, serve until SIGTERM.

This is the I/O edge the CLI calls; the pieces it wires (store, TLS, app, core node) take their
seams as arguments and are tested on their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from onprem.emulator.context import WebSettings
from onprem.emulator.core import CoreNode, NodeIdentity, container_id
from onprem.emulator.dbconnect import Connection, connect_with_retry, dialect_for, server_connector
from onprem.emulator.dispatch import Dispatcher
from onprem.emulator.env import DEFAULT_CORE_PORTS, DEFAULT_DATA_DIR, DEFAULT_MEDIA_DIR, EmulatorEnv
from onprem.emulator.envelope import Meta
from onprem.emulator.passwords import hash_password
from onprem.emulator.schema import SchemaReport, prepare, summary
from onprem.emulator.store import Store
from onprem.emulator.tls import ensure_certificates, server_ssl_context, uploaded_certificate
from onprem.emulator.web import create_app
from onprem.errors import ConfigError, StateError
from onprem.sidecar import listen_hosts

log = logging.getLogger("onprem.emulator")

# The client's documented factory default, which the first login must change.
DEFAULT_ADMIN_PASSWORD = "secret"  # noqa: S105


@dataclass(frozen=True)
class Placement:
    """Where a role keeps its files: the data directory and the SQLite file (when no DB engine)."""

    data_dir: Path
    sqlite_path: Path


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def place(env: EmulatorEnv, *, data_dir: str | None, state: str | None) -> Placement:
    """Resolve the data directory (flag, env, /usr/local/waent/data if writable, else a temp dir)
    and the SQLite path (flag, env ONPREM_EMULATOR_SQLITE, else `<data>/<prefix>waent.sqlite3`).

    Raises StateError when an explicitly named directory cannot be written.
    """
    explicit = data_dir or env.data_dir
    if explicit:
        chosen = Path(explicit)
        if not _writable(chosen):
            raise StateError(f"data directory {chosen} is not writable")
    elif _writable(Path(DEFAULT_DATA_DIR)):
        chosen = Path(DEFAULT_DATA_DIR)
    else:
        chosen = Path(tempfile.gettempdir()) / "onprem-emulator"
        if not _writable(chosen):
            raise StateError(f"neither {DEFAULT_DATA_DIR} nor {chosen} is writable")
    sqlite = state or env.db.sqlite_path
    return Placement(chosen, Path(sqlite) if sqlite else chosen / f"{env.db.database}.sqlite3")


def media_dir(env: EmulatorEnv, placement: Placement) -> Path:
    """ONPREM_EMULATOR_MEDIA_DIR, else /usr/local/wamedia when writable, else `<data>/media`."""
    if env.media_dir:
        return Path(env.media_dir)
    if _writable(Path(DEFAULT_MEDIA_DIR)):
        return Path(DEFAULT_MEDIA_DIR)
    return placement.data_dir / "media"


def _open(
    env: EmulatorEnv, placement: Placement, *, wait_seconds: float, upgrade: bool
) -> tuple[Store, SchemaReport]:
    connect, prepare_db = server_connector(env.db, placement.sqlite_path)
    what = str(placement.sqlite_path) if env.db.engine == "SQLITE" else env.db.describe()
    first: list[Connection] = [connect_with_retry(prepare_db, connect, what=what, wait_seconds=wait_seconds)]

    def reuse_then_connect() -> Connection:
        return first.pop() if first else connect()

    client = env.client
    store = Store(reuse_then_connect, dialect_for(env.db), schema=client.schema)
    try:
        report = prepare(
            store,
            client,
            upgrade=upgrade,
            admin_password_hash=hash_password(DEFAULT_ADMIN_PASSWORD),
            now=time.time(),
        )
    except BaseException:
        store.close()
        raise
    fresh = ", created" if report.action == "created" else ""
    log.info("state in %s (schema %d%s, client %s)", what, report.after, fresh, client)
    return store, report


def open_store(env: EmulatorEnv, placement: Placement, *, wait_seconds: float) -> Store:
    """Connect to (creating) the database, waiting up to `wait_seconds` for the server, and check that
    its schema is this client's (`schema.prepare`: a fresh database is created at it).

    Raises DatabaseUnavailable when it stays unreachable, SchemaMismatch when its schema is older or
    newer than this client's (both StateErrors, exit code 6).
    """
    return _open(env, placement, wait_seconds=wait_seconds, upgrade=False)[0]


def upgrade_database(env: EmulatorEnv, placement: Placement, *, wait_seconds: float) -> SchemaReport:
    """The one-shot upgrade (`WA_DB_UPGRADE=1`): bring the database to this client's schema, keeping
    every row, log what was done, and return without serving. A current database is left as it is.

    Raises DatabaseUnavailable, or SchemaMismatch for a schema newer than this client's.
    """
    log.info("database upgrade for client %s (WA_DB_UPGRADE=1)", env.version)
    store, report = _open(env, placement, wait_seconds=wait_seconds, upgrade=True)
    store.close()
    log.info("%s", summary(report, env.client))
    return report


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def server_names(env: EmulatorEnv) -> list[str]:
    """Names the web certificate covers: loopback, the container hostname and the configured names."""
    names = ["localhost", "127.0.0.1", "::1", env.hostname, env.web_servername, env.webapp_hostname]
    return [name for name in names if name]


async def serve_web(env: EmulatorEnv, store: Store, placement: Placement, *, host: str, port: int) -> None:
    """Serve the REST API over HTTPS until SIGTERM/SIGINT. Raises ConfigError if it cannot listen."""
    certs_dir = placement.data_dir / "certs" / "external"
    paths = await asyncio.to_thread(ensure_certificates, certs_dir, server_names(env))
    # An uploaded certificate wins; a bad one stops the web role here (UnusableCertificate), before
    # it listens, like the real web server after a bad upload.
    uploaded = await asyncio.to_thread(uploaded_certificate, certs_dir)
    if uploaded is not None:
        log.info("serving the uploaded certificate %s", uploaded.cert)
        paths = uploaded
    settings = WebSettings(
        certs_dir=certs_dir,
        api_key=env.api_key,
        multiconnect=env.multiconnect,
        sunset=env.sunset,
        meta=Meta(version=env.version),
        data_dir=placement.data_dir,
        test_hooks=env.test_hooks,
        node_name=env.hostname,
        media_dir=media_dir(env, placement),
    )
    if env.test_hooks:
        log.warning("test hooks enabled (ONPREM_EMULATOR_TEST_HOOKS=1): /_emulator/* is served")
    # Kept in the store so other tools (and tests) can see which mode this deployment runs in.
    await asyncio.to_thread(store.put_setting, "sunset", env.sunset)
    runner = web.AppRunner(create_app(store, settings), access_log=None)
    await runner.setup()
    stop = _stop_on_signals()
    try:
        try:
            for address in listen_hosts(host):
                await web.TCPSite(runner, address, port, ssl_context=server_ssl_context(paths)).start()
        except OSError as exc:
            raise ConfigError(f"web: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        log.info("web serving https://%s:%d (CA %s)", host, port, paths.ca)
        await stop.wait()
    finally:
        await runner.cleanup()
        store.close()
    log.info("web stopped")


def core_identity(env: EmulatorEnv) -> NodeIdentity:
    """This node's name in health: `<hostname>:<container-id>`. The hostname is the container's own (the
    service's name, which stays when the container is recreated). A container with Docker's default
    hostname (its own id) is named after what it advertises instead: COREAPP_HOSTNAME, plus its first
    advertised port unless that is the default 6250, since several nodes of one host advertise the
    host's one address and differ by their ports (only one node of a host can publish 6250)."""
    default_hostname = re.fullmatch(r"[0-9a-f]{12}", env.hostname) is not None
    hostname = env.hostname
    if default_hostname and env.coreapp_hostname:
        first = env.coreapp_external_ports[0] if env.coreapp_external_ports else DEFAULT_CORE_PORTS[0]
        suffix = "" if first == DEFAULT_CORE_PORTS[0] else f":{first}"
        hostname = env.coreapp_hostname + suffix
    cid = env.container_id or container_id(fallback=env.hostname)
    kind = "master" if env.master_node else "coreapp"
    return NodeIdentity(hostname=hostname, container_id=cid, kind=kind, version=env.version)


async def serve_core(env: EmulatorEnv, store: Store, *, host: str, ports: Sequence[int]) -> None:
    """Heartbeat and listen on the core ports until SIGTERM/SIGINT. Raises ConfigError if it cannot listen."""
    node = CoreNode(store, core_identity(env), multiconnect=env.multiconnect)
    stop = _stop_on_signals()
    try:
        try:
            bound = await node.listen(host, ports)
        except OSError as exc:
            raise ConfigError(
                f"core: cannot listen on {host} ports {list(ports)}: {exc.strerror or exc}"
            ) from None
        log.info("core listening on %s ports %s", host, ",".join(map(str, bound)))
        dispatcher = Dispatcher(store, status_delay=env.status_delay, sending=node.sending())
        try:
            await asyncio.gather(node.run(stop), dispatcher.run(stop))
        finally:
            # Both loops have ended: nothing is being sent, so the shard or the lease can go.
            await node.close()
    finally:
        store.close()
