"""`onprem residency`: where each class of data lives, its encryption at rest, retention, readers and
where it leaves the site, read-only; a table, `--markdown` for a compliance review, or `--json`."""

from __future__ import annotations

import click

from onprem.cli.options import deployment_options, json_option, open_deployment


@click.command()
@deployment_options
@json_option
@click.option(
    "--markdown", "as_markdown", is_flag=True, help="Print a Markdown report for a compliance review."
)
def residency(config_path: str | None, overrides: tuple[str, ...], as_json: bool, as_markdown: bool) -> None:
    """Report where each class of data lives (host, engine, volume, path, device), whether encryption at
    rest is detected there, its retention, who can read it and where it leaves the site.

    Read-only: it runs docker inspect, stat, findmnt and lsblk on each host and reads the client's
    settings. A host or API that does not answer is named in the report; the command still exits 0.
    The JSON (--json) is documented in the README ("Data residency") and diffs between reviews."""
    import json

    from onprem.residency import markdown, report_document, table
    from onprem.workflows.residency import residency as build

    if as_json and as_markdown:
        raise click.UsageError("give --json or --markdown, not both")
    deployment = open_deployment(config_path, overrides)
    report = build(deployment)
    if as_json:
        click.echo(json.dumps(report_document(report), indent=2, sort_keys=True))
    elif as_markdown:
        click.echo(markdown(report), nl=False)
    else:
        click.echo(table(report))


COMMANDS = [residency]
