"""`onprem certs issue|upload|status` and `onprem webhooks set`."""

from __future__ import annotations

from pathlib import Path

import click

from onprem.ops.cli_common import config_option, emit, json_option, make_context, set_option
from onprem.ops.context import OpsContext


@click.group()
def certs() -> None:
    """Certificates: the internal CA, the web endpoint's chain, expiry."""


@certs.command("issue")
@config_option
@set_option
@json_option
def certs_issue(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Issue the internal CA and the web and relay server certificates (SANs from the config)."""
    from onprem.ops.bootstrap import issue_certs

    ctx = make_context(config_path, overrides)
    done = issue_certs(ctx.loaded, ctx.secrets, now=ctx.now())
    relay = ctx.loaded.settings.relay
    if done["relay secrets"] == "updated" and relay.enabled and relay.tls is not None:
        done["relay"] += _restart_if_running(ctx, "relay")
    lines = [f"{name}: {what}" for name, what in done.items()]
    lines.append(f"files in {ctx.cert_files.root} (keys mode 0600)")
    emit(as_json, {**done, "directory": str(ctx.cert_files.root)}, "\n".join(lines))


def _restart_if_running(ctx: OpsContext, service: str) -> str:
    from onprem.errors import EngineError

    try:
        running = [
            c for c in ctx.engine.containers(ctx.project) if c.service == service and c.state == "running"
        ]
        if running:
            ctx.stack().compose("restart", service)
            return ", restarted"
    except EngineError:
        pass
    return ""


@certs.command("upload")
@config_option
@set_option
@click.option(
    "--chain",
    "chain_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="PEM: key, cert, intermediates.",
)
@click.option(
    "--ca", "ca_file", type=click.Path(dir_okay=False), help="Root CA of the chain (default: onprem's)."
)
@json_option
def certs_upload(
    config_path: str | None, overrides: tuple[str, ...], chain_file: str, ca_file: str | None, as_json: bool
) -> None:
    """Check a PEM bundle completely, then upload it as the web endpoint's certificate."""
    from onprem.errors import ConfigError
    from onprem.ops.certs import roots_for, upload
    from onprem.ops.runtime import restarter

    ctx = make_context(config_path, overrides)
    try:
        text = Path(chain_file).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{chain_file}: cannot read the PEM bundle ({exc})") from None
    api = ctx.api()
    result = upload(
        api,
        bundle_text=text,
        origin=chain_file,
        roots=roots_for(Path(ca_file) if ca_file else None, ctx.cert_files),
        now=ctx.now(),
        files=ctx.cert_files,
        pinned_ca=ctx.state.ca_file,
        restart_web=restarter(ctx.stack(), ["waweb"], api),
    )
    emit(
        as_json,
        result,
        f"{result['status']}: {result['server']['subject']}, expires {result['server']['not_after']}",
    )


@certs.command("status")
@config_option
@set_option
@json_option
def certs_status(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Expiry of the certificate each endpoint serves, and of the issued files."""
    from onprem.ops.certs import status
    from onprem.workflows.deploy import published_web

    ctx = make_context(config_path, overrides)
    settings = ctx.loaded.settings
    host, web_port = published_web(ctx.loaded)
    endpoints = {"web": (host, web_port)}
    if settings.relay.enabled and settings.relay.tls is not None:
        endpoints["relay"] = (host, settings.network.relay_port)

    def fetch(address: str, port: int) -> str | None:
        # Through the engine: a tunnel when the ports are published on a remote host.
        with ctx.engine.endpoint(address, port) as (reach_host, reach_port):
            return _fetch_cert(reach_host, reach_port)

    rows = status(endpoints, ctx.cert_files, now=ctx.now(), fetch=fetch)
    lines = [
        f"{r['endpoint']:<22} " + (r.get("error") or f"{r['days_left']} days left ({r['not_after']})")
        for r in rows
    ]
    emit(as_json, {"certificates": rows}, "\n".join(lines))


def _fetch_cert(host: str, port: int) -> str | None:
    # Reads the served certificate to report its dates; nothing is trusted or sent over this connection.
    import ssl

    try:
        return ssl.get_server_certificate((host, port), timeout=5)
    except OSError:
        return None


@click.group()
def webhooks() -> None:
    """Where the client sends its callbacks."""


@webhooks.command("set")
@config_option
@set_option
@json_option
def webhooks_set(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Point the client's callbacks at the relay and upload the relay's CA."""
    from onprem.errors import ConfigError
    from onprem.ops.bootstrap import check_relay_tls
    from onprem.ops.runtime import restarter
    from onprem.ops.webhooks import relay_url, set_webhooks
    from onprem.render import RELAY_CONTAINER_PORT

    ctx = make_context(config_path, overrides)
    check_relay_tls(ctx.loaded, "webhooks set")
    ca = ctx.cert_files.read("root.pem")
    token = ctx.secrets.read("RELAY_PATH_TOKEN")
    if ca is None or token is None:
        raise ConfigError(
            "no internal CA or relay path token in the state directory: "
            "run `onprem certs issue`, then `onprem deploy`"
        )
    api = ctx.api()
    stack = ctx.stack()
    url = relay_url(RELAY_CONTAINER_PORT, token)
    outcome = set_webhooks(api, url=url, ca_pem=ca, restart_core=restarter(stack, stack.core_services, api))
    shown = relay_url(RELAY_CONTAINER_PORT, "<RELAY_PATH_TOKEN>")
    emit(
        as_json,
        {**outcome, "url_template": shown},
        f"webhooks url {outcome['url']} ({shown}); relay CA {outcome['ca']}",
    )
