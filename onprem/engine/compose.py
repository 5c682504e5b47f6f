"""Pure helpers that build `docker compose` argument vectors (no I/O, easy to test)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from onprem.bundle import COMPOSE_FILE


def compose_argv(
    bundle_dir: Path, project: str, args: Sequence[str], *, profiles: Sequence[str] = (), stdin: bool = False
) -> list[str]:
    """`docker compose` with the bundle's project directory, file, project name and profiles; with
    `stdin`, the compose file is read from stdin (paths still resolved against the bundle directory)."""
    argv = ["docker", "compose", "--project-directory", str(bundle_dir)]
    argv += ["--file", "-" if stdin else str(bundle_dir / COMPOSE_FILE), "--project-name", project]
    for profile in profiles:
        argv += ["--profile", profile]
    return [*argv, *args]


def up_args(*, wait: bool = False, timeout: int | None = None) -> list[str]:
    """`up` detached, removing services no longer in the file; optionally `--wait` for healthchecks."""
    args = ["up", "--detach", "--remove-orphans", "--quiet-pull"]
    if wait:
        args.append("--wait")
        if timeout is not None:
            args += ["--wait-timeout", str(timeout)]
    return args


def down_args(*, volumes: bool = False) -> list[str]:
    """`down` removing orphans, and named volumes when asked (data loss: the CLI asks first)."""
    args = ["down", "--remove-orphans"]
    if volumes:
        args.append("--volumes")
    return args
