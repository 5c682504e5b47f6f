"""Certificates and callbacks: `certs issue|upload|status` and `webhooks set`."""

from __future__ import annotations

from pathlib import Path

import click

from onprem.cli.options import (
    deployment_options,
    emit,
    json_option,
    locked,
    open_deployment,
    operation_options,
    show_gate_logs,
)
from onprem.errors import GateError


@click.group()
def certs() -> None:
    """Certificates: the internal CA, the web endpoint's chain, expiry."""


@certs.command("issue")
@deployment_options
@operation_options
@json_option
def certs_issue(
    config_path: str | None, overrides: tuple[str, ...], lock_wait: float, reason: str, as_json: bool
) -> None:
    """Issue the internal CA and the web and relay server certificates (SANs from the config)."""
    from onprem.workflows.certs import issue_and_apply

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        done = issue_and_apply(deployment)
    directory = str(deployment.state.certs.root)
    lines = [f"{name}: {what}" for name, what in done.items()]
    lines.append(f"files in {directory} (keys mode 0600)")
    emit(as_json, {**done, "directory": directory}, "\n".join(lines))


@certs.command("upload")
@deployment_options
@click.option(
    "--chain",
    "chain_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM: key, cert, intermediates.",
)
@click.option(
    "--ca",
    "ca_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Root CA of the chain (default: onprem's).",
)
@operation_options
@json_option
def certs_upload(
    config_path: str | None,
    overrides: tuple[str, ...],
    chain_file: Path,
    ca_file: Path | None,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Check a PEM bundle completely (names in use included), then upload it as the web endpoint's
    certificate; if web does not come back healthy with it, the previous one is put back."""
    from onprem.workflows.certs import upload_chain

    deployment = open_deployment(config_path, overrides)
    try:
        with locked(deployment, lock_wait, reason):
            result = upload_chain(deployment, chain_file, ca_file)
    except GateError as exc:
        show_gate_logs(exc)
        raise
    server = result["server"]
    emit(as_json, result, f"{result['status']}: {server['subject']}, expires {server['not_after']}")


@certs.command("status")
@deployment_options
@json_option
def certs_status(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show the expiry of the certificate each endpoint serves, and of the issued files."""
    from onprem.workflows.certs import endpoint_status

    rows = endpoint_status(open_deployment(config_path, overrides))
    lines = [
        f"{r['endpoint']:<22} " + (r.get("error") or f"{r['days_left']} days left ({r['not_after']})")
        for r in rows
    ]
    emit(as_json, {"certificates": rows}, "\n".join(lines))


@click.group()
def webhooks() -> None:
    """Where the client sends its callbacks."""


@webhooks.command("set")
@deployment_options
@operation_options
@json_option
def webhooks_set(
    config_path: str | None, overrides: tuple[str, ...], lock_wait: float, reason: str, as_json: bool
) -> None:
    """Point the client's callbacks at the relay and upload the relay's CA."""
    from onprem.workflows.bootstrap import check_relay_tls
    from onprem.workflows.webhooks import set_for

    deployment = open_deployment(config_path, overrides)
    check_relay_tls(deployment.loaded, "webhooks set")
    with locked(deployment, lock_wait, reason):
        outcome = set_for(deployment)
    human = f"webhooks url {outcome['url']} ({outcome['url_template']}); relay CA {outcome['ca']}"
    emit(as_json, outcome, human)


COMMANDS = [certs, webhooks]
