"""The deployment lifecycle commands: render, deploy, status, down, logs, config.

Thin: parse options, build the real engine and API client, call a workflow, print its result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from onprem.errors import ApiError, GateError

config_option = click.option(
    "--config",
    "-c",
    "config_path",
    metavar="FILE",
    help="Config file (default: $ONPREM_CONFIG, else ./onprem.yaml, else built-in defaults).",
)
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting, e.g. --set network.web_port=9191.",
)


def _load(config_path: str | None, overrides: tuple[str, ...]) -> Any:
    from onprem.config import find_config, load_settings

    cwd = Path.cwd()
    path = find_config(config_path, os.environ, cwd)
    return load_settings(path, environ=os.environ, overrides=list(overrides), cwd=cwd)


def engine_for(loaded: Any) -> Any:
    """The engine of the deployment's one host: local, or over SSH. Raises ConfigError for several."""
    from onprem.errors import ConfigError

    hosts = loaded.settings.hosts
    if len(hosts) != 1:
        raise ConfigError(
            f"{loaded.where('hosts', 1)}: hosts: {len(hosts)} hosts given; this version deploys a stack to "
            "exactly one host (local or ssh://), so list one"
        )
    host = hosts[0]
    if host.address == "local":
        from onprem.engine.local import LocalEngine

        return LocalEngine()
    from onprem.engine.ssh import connect

    return connect(
        host.address,
        identity_file=host.identity_file,
        known_hosts_file=host.known_hosts_file,
        remote_dir=host.remote_dir,
    )


def _deployer(loaded: Any) -> Any:
    from onprem.api.client import ApiClient
    from onprem.workflows.deploy import Deployer

    def api_factory(url: str, ca_file: Path, api_key: str) -> ApiClient:
        return ApiClient(url, ca_file=ca_file, api_key=api_key)

    return Deployer(
        loaded,
        engine=engine_for(loaded),
        api_factory=api_factory,
        environ=os.environ,
        progress=lambda line: click.echo(line, err=True),
    )


@click.command()
@config_option
@set_option
def render(config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Validate the config and write the bundle, without touching Docker."""
    deployer = _deployer(_load(config_path, overrides))
    changes = deployer.render_only()
    click.echo(f"bundle {deployer.state.bundle}: {deployer._describe(changes)}")


@click.command()
@config_option
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def deploy(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Validate, render, launch and bootstrap the deployment."""
    from onprem.workflows.status import format_table, status_document

    loaded = _load(config_path, overrides)
    deployer = _deployer(loaded)
    try:
        result = deployer.run()
    except GateError as exc:
        if exc.logs:
            click.echo(f"--- last log lines of {exc.service} ---\n{exc.logs.rstrip()}\n---", err=True)
        raise
    from onprem.render import expected_services

    document = status_document(
        deployment=deployer.project,
        expected=expected_services(loaded.settings),
        containers=result.containers,
        api_url=result.api_url,
        health=result.health,
        api_error=None,
    )
    document["changed"] = result.changed
    document["notes"] = result.notes
    if as_json:
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    if not result.changed:
        click.echo("nothing changed: the deployment already runs this bundle and every service is healthy")
    elif result.admin == "rotated":
        click.echo("admin password rotated to the generated secret (kept in the state directory, mode 0600)")
    click.echo(format_table(document))


@click.command()
@config_option
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show the state of every service and the client's health. Exits 1 when not healthy."""
    from onprem.errors import OnpremError
    from onprem.render import expected_services
    from onprem.workflows.deploy import api_url
    from onprem.workflows.status import format_table, status_document

    loaded = _load(config_path, overrides)
    deployer = _deployer(loaded)
    deployer.engine.check()
    containers = deployer.engine.containers(deployer.project)
    health: dict[str, Any] | None = None
    api_error: str | None = None
    api_key = deployer.secrets.read("WA_API_KEY")
    if api_key is None or not deployer.state.ca_file.is_file():
        api_error = "not deployed from this state directory"
    else:
        try:
            with deployer.reach_api() as url:
                health = deployer.api_factory(url, deployer.state.ca_file, api_key).health(timeout=5)
        except ApiError as exc:
            api_error = str(exc)
    document = status_document(
        deployment=deployer.project,
        expected=expected_services(loaded.settings),
        containers=containers,
        api_url=api_url(loaded),
        health=health,
        api_error=api_error,
    )
    click.echo(json.dumps(document, indent=2, sort_keys=True) if as_json else format_table(document))
    if not document["healthy"]:
        raise OnpremError(f"deployment {deployer.project} is not healthy")


@click.command()
@config_option
@set_option
@click.option("--volumes", is_flag=True, help="Also delete named volumes: the database and media. Data loss.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting volumes.")
def down(config_path: str | None, overrides: tuple[str, ...], volumes: bool, yes: bool) -> None:
    """Stop and remove the deployment's containers (and volumes with --volumes)."""
    from onprem.engine.compose import down_args

    loaded = _load(config_path, overrides)
    deployer = _deployer(loaded)
    if volumes and not yes:
        click.confirm(f"delete every volume of {deployer.project} (database, media)?", abort=True)
    if not (deployer.state.bundle / "compose.yaml").is_file():
        deployer.render_only()
    deployer.engine.check()
    deployer.engine.compose(
        deployer.state.bundle, deployer.project, down_args(volumes=volumes), profiles=["monitoring"]
    )
    deployer.state.clear_record()
    click.echo(f"deployment {deployer.project} is down" + (" and its volumes are deleted" if volumes else ""))


@click.command()
@config_option
@set_option
@click.argument("service")
@click.option("--tail", default=100, show_default=True, help="Number of lines.")
def logs(config_path: str | None, overrides: tuple[str, ...], service: str, tail: int) -> None:
    """Show a service's last log lines."""
    from onprem.errors import ConfigError
    from onprem.render import expected_services

    loaded = _load(config_path, overrides)
    known = expected_services(loaded.settings)
    if service not in known:
        raise ConfigError(f"unknown service {service!r}; services of this deployment: {', '.join(known)}")
    deployer = _deployer(loaded)
    deployer.engine.check()
    click.echo(deployer.engine.logs(deployer.project, service, tail=tail), nl=False)


@click.command()
@config_option
@set_option
def config(config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Check the config and print the effective settings as YAML (secret sources only, no values)."""
    import yaml

    loaded = _load(config_path, overrides)
    click.echo(f"# {loaded.path or 'built-in defaults'}: valid")
    click.echo(yaml.safe_dump(loaded.settings.model_dump(mode="json"), sort_keys=False), nl=False)
