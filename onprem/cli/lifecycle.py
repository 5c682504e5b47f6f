"""The deployment lifecycle: `config`, `render`, `deploy`, `status`, `logs`, `down`."""

from __future__ import annotations

from pathlib import Path

import click

from onprem.cli.offline import bundle_option
from onprem.cli.options import (
    confirm,
    deployment_options,
    emit,
    json_option,
    load,
    locked,
    open_deployment,
    operation_options,
    show_gate_logs,
    yes_option,
)
from onprem.errors import GateError


@click.command()
@deployment_options
@json_option
def config(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Check the config as deploy would and print the effective settings (secret sources, no values)."""
    import yaml

    from onprem.workflows.prepare import check_config

    loaded = load(config_path, overrides)
    check_config(loaded)
    settings = loaded.settings.model_dump(mode="json")
    origin = str(loaded.path or "built-in defaults")
    if as_json:
        emit(True, {"config": origin, "valid": True, "settings": settings}, "")
        return
    click.echo(f"# {origin}: valid")
    click.echo(yaml.safe_dump(settings, sort_keys=False), nl=False)


@click.command()
@deployment_options
@json_option
def images(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """List the images the configured stack runs, one per line (to build, pull or carry to a host)."""
    from onprem.workflows.prepare import image_names

    names = image_names(load(config_path, overrides))
    emit(as_json, {"images": names}, "\n".join(names))


@click.command()
@deployment_options
@operation_options
@json_option
def render(
    config_path: str | None, overrides: tuple[str, ...], lock_wait: float, reason: str, as_json: bool
) -> None:
    """Validate the config, resolve secrets and write the bundle, without touching Docker."""
    from onprem.workflows.prepare import describe, render_only

    deployment = open_deployment(config_path, overrides)
    # Locked here only: it writes this machine's bundle, which a running deploy also writes.
    with locked(deployment, lock_wait, reason, local_only=True):
        changes = render_only(deployment)
    document = {
        "bundle": str(deployment.state.bundle),
        "added": changes.added,
        "changed": changes.changed,
        "removed": changes.removed,
    }
    emit(as_json, document, f"bundle {deployment.state.bundle}: {describe(changes)}")


@click.command()
@deployment_options
@bundle_option
@operation_options
@json_option
def deploy(
    config_path: str | None,
    overrides: tuple[str, ...],
    bundle_file: Path | None,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Validate, render, launch, gate on the client's own health, bootstrap; then print the status.

    A re-run with nothing changed is a no-op that says so. With --bundle, the images come from an
    offline bundle, verified before anything is touched."""
    from onprem.render import expected_services
    from onprem.workflows.deploy import deploy as run
    from onprem.workflows.offline import deploy_from, open_bundle
    from onprem.workflows.status import format_table, running_release, status_document

    deployment = open_deployment(config_path, overrides)
    carried = open_bundle(deployment, bundle_file) if bundle_file is not None else None
    with locked(deployment, lock_wait, reason) as operation:
        try:
            result = run(deployment) if carried is None else deploy_from(deployment, carried)
        except GateError as exc:
            show_gate_logs(exc)
            raise
        operation.note(
            changed=result.changed,
            release=result.release,
            config_digest=result.config_digest,
            plan=result.summary,
        )
    document = status_document(
        deployment=deployment.project,
        expected=expected_services(deployment.settings),
        containers=result.containers,
        api_url=deployment.api_url,
        health=result.health,
        api_error=None,
        release=running_release(deployment),
    )
    document["changed"] = result.changed
    document["notes"] = result.notes
    if as_json:
        emit(True, document, "")
        return
    if not result.changed:
        click.echo("nothing changed: the deployment already runs this bundle and every service is healthy")
    elif result.admin == "rotated":
        click.echo("admin password rotated to the generated secret (kept in the state directory, mode 0600)")
    click.echo(format_table(document))


@click.command()
@deployment_options
@json_option
def status(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show every service's state and health and the client's /v1/health. Exits 1 when not healthy."""
    from onprem.errors import OnpremError
    from onprem.workflows.status import format_table
    from onprem.workflows.status import status as run

    deployment = open_deployment(config_path, overrides)
    document = run(deployment)
    emit(as_json, document, format_table(document))
    if not document["healthy"]:
        raise OnpremError(f"deployment {deployment.project} is not healthy")


@click.command()
@deployment_options
@click.argument("service")
@click.option("--tail", default=100, show_default=True, help="Number of lines.")
@json_option
def logs(config_path: str | None, overrides: tuple[str, ...], service: str, tail: int, as_json: bool) -> None:
    """Show the last log lines of SERVICE's containers."""
    from onprem.workflows.status import logs as run

    deployment = open_deployment(config_path, overrides)
    text = run(deployment, service, tail)
    if as_json:
        emit(True, {"service": service, "lines": text.splitlines()}, "")
    else:
        click.echo(text, nl=False)


@click.command()
@deployment_options
@click.option("--volumes", is_flag=True, help="Also delete named volumes: the database and media. Data loss.")
@yes_option
@operation_options
@json_option
def down(
    config_path: str | None,
    overrides: tuple[str, ...],
    volumes: bool,
    yes: bool,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Stop and remove the deployment's containers (and, with --volumes, its data: asks first)."""
    from onprem.workflows.down import down as run

    deployment = open_deployment(config_path, overrides)
    if volumes and not yes:
        confirm(f"delete every volume of {deployment.project} (database, media, relay store)?")
    with locked(deployment, lock_wait, reason):
        document = run(deployment, volumes=volumes)
    human = f"deployment {deployment.project} is down" + (" and its volumes are deleted" if volumes else "")
    emit(as_json, document, human)


COMMANDS = [config, images, render, deploy, status, logs, down]
