"""Offline bundles: `bundle` writes one where the images are; `deploy --bundle` and `plan --bundle` (the
option is defined here) read one where nothing can be pulled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from onprem.cli.options import deployment_options, emit, json_option, load, progress

if TYPE_CHECKING:
    from onprem.workflows.offline import Built

bundle_option = click.option(
    "--bundle",
    "bundle_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Take the images from this offline bundle (`onprem bundle`): read whole and checked against "
    "the config first; nothing is pulled, nor copied from this machine.",
)


@click.command()
@deployment_options
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where to write the bundle (one tar file, written atomically).",
)
@click.option(
    "--compress/--no-compress",
    default=True,
    show_default=True,
    help="gzip the images: about a third of the size, for a few seconds more here.",
)
@json_option
def bundle(
    config_path: str | None, overrides: tuple[str, ...], output: Path, compress: bool, as_json: bool
) -> None:
    """Write an offline bundle for hosts that cannot pull: the rendered files, one `docker save` of every
    image the stack needs (from this machine's engine), checksums and a manifest. It holds no secret.
    Carry it to the site and run `onprem deploy --bundle FILE` there."""
    from onprem.workflows.offline import build

    built = build(load(config_path, overrides), output, compress=compress, progress=progress)
    emit(as_json, built.as_json(), format_built(built))


def format_built(built: Built) -> str:
    """What the bundle holds, as text."""
    from onprem.workflows.offline import megabytes

    manifest = built.manifest
    lines = [
        f"bundle {built.path}: {megabytes(built.size)}, sha256 {built.sha256}",
        f"  deployment {manifest.deployment}, onprem {manifest.onprem_version}, made {manifest.created}",
        f"  {len(manifest.files)} rendered files; images in {manifest.images_member}:",
    ]
    lines += [f"    {i.name:<36} {i.id[:19]}  {megabytes(i.size)}" for i in manifest.images]
    lines.append(f"deploy it where nothing can be pulled: onprem deploy --bundle {built.path.name}")
    return "\n".join(lines)


COMMANDS = [bundle]
