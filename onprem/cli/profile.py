"""The number's profile and business profile: `profile show|set-about|set-photo|delete-photo` and
`business-profile show|set`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from onprem.cli.options import (
    deployment_options,
    emit,
    json_option,
    locked,
    open_deployment,
    operation_options,
)


def _photo_line(photo: dict[str, Any] | None) -> str:
    if photo is None:
        return "none"
    return f"{photo['mime_type']}, {photo['size']} bytes, sha256 {photo['sha256'][:16]}..."


@click.group()
def profile() -> None:
    """The registered number's profile: about text and photo."""


@profile.command("show")
@deployment_options
@json_option
def profile_show(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show the about text and the profile photo (type, size, SHA-256)."""
    from onprem.workflows.profile import show_profile

    shown = show_profile(open_deployment(config_path, overrides).api())
    emit(as_json, shown, f"about: {shown['about'] or '(empty)'}\nphoto: {_photo_line(shown['photo'])}")


@profile.command("set-about")
@deployment_options
@click.argument("text")
@operation_options
@json_option
def profile_set_about(
    config_path: str | None,
    overrides: tuple[str, ...],
    text: str,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Set the about text to TEXT (at most 139 characters)."""
    from onprem.workflows.profile import set_about

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        done = set_about(deployment.api(), text)
    emit(as_json, done, f"about: {done['about']}")


@profile.command("set-photo")
@deployment_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@operation_options
@json_option
def profile_set_photo(
    config_path: str | None,
    overrides: tuple[str, ...],
    file: Path,
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Upload FILE (JPEG or PNG) as the profile photo."""
    from onprem.workflows.profile import set_photo

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        done = set_photo(deployment.api(), file)
    emit(as_json, done, f"photo: {_photo_line(done)}")


@profile.command("delete-photo")
@deployment_options
@operation_options
@json_option
def profile_delete_photo(
    config_path: str | None, overrides: tuple[str, ...], lock_wait: float, reason: str, as_json: bool
) -> None:
    """Remove the profile photo."""
    from onprem.workflows.profile import delete_photo

    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        done = delete_photo(deployment.api())
    emit(as_json, done, "photo: deleted")


def _business_lines(shown: dict[str, Any]) -> str:
    lines = [
        f"{key + ':':<13} {shown[key] or '-'}" for key in ("address", "description", "email", "vertical")
    ]
    lines.append(f"{'websites:':<13} {', '.join(shown['websites']) or '-'}")
    return "\n".join(lines)


@click.group("business-profile")
def business_profile() -> None:
    """The business profile: address, description, email, vertical, websites."""


@business_profile.command("show")
@deployment_options
@json_option
def business_show(config_path: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show the business profile."""
    from onprem.workflows.profile import show_business

    shown = show_business(open_deployment(config_path, overrides).api())
    emit(as_json, shown, _business_lines(shown))


@business_profile.command("set")
@deployment_options
@click.option("--address", help="The business's address (at most 256 characters).")
@click.option("--description", help="What the business does (at most 256 characters).")
@click.option("--email", help="Contact email (at most 128 characters).")
@click.option("--vertical", help="The business's industry (at most 128 characters).")
@click.option(
    "--website",
    "websites",
    multiple=True,
    help="A URL (http:// or https://); give it at most twice. Replaces the list.",
)
@operation_options
@json_option
def business_set(
    config_path: str | None,
    overrides: tuple[str, ...],
    address: str | None,
    description: str | None,
    email: str | None,
    vertical: str | None,
    websites: tuple[str, ...],
    lock_wait: float,
    reason: str,
    as_json: bool,
) -> None:
    """Change the fields given; the others keep their value."""
    from onprem.workflows.profile import business_changes, set_business

    changes = business_changes(
        address=address,
        description=description,
        email=email,
        vertical=vertical,
        websites=list(websites) if websites else None,
    )
    deployment = open_deployment(config_path, overrides)
    with locked(deployment, lock_wait, reason):
        done = set_business(deployment.api(), changes)
    emit(as_json, done, _business_lines(done))


COMMANDS = [profile, business_profile]
