"""Images for a remote host that has no registry to pull from: which to copy (pure), and this machine's side.

A remote deploy copies every image the bundle uses that this machine has and the host lacks, or holds in
another version (compared by image ID), as ONE `docker save` stream piped into `docker load` over SSH, so
layers shared between images (the project's images share their base) travel once. Images this machine
does not have are left to the host's own `docker compose up` (a private registry it pulls from).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import yaml

from onprem.errors import EngineError

# One line per tagged image: `<repository>:<tag> <full image ID>`.
LIST_ARGV = ["docker", "image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]
CHUNK = 1 << 20


class ImageSource(Protocol):
    """Where the images to copy come from (this machine's engine, or a test double)."""

    def ids(self, names: Sequence[str]) -> dict[str, str | None]:
        """The image ID of each name, None where this machine does not have it."""
        ...

    def save(self, names: Sequence[str]) -> Iterator[bytes]:
        """One `docker save` tar stream of all `names`, in chunks. Raises EngineError when it fails."""
        ...


def normalize(name: str) -> str:
    """`name` with its implicit `:latest` tag spelled out, as `docker image ls` shows it."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in last else f"{name}:latest"


def parse_image_list(text: str) -> dict[str, str]:
    """{`repository:tag`: image ID} from the output of LIST_ARGV (untagged `<none>` images left out)."""
    images: dict[str, str] = {}
    for line in text.splitlines():
        name, _, image_id = line.strip().partition(" ")
        if image_id and "<none>" not in name:
            images[name] = image_id
    return images


def stack_images(compose_text: str, profiles: Sequence[str]) -> list[str]:
    """The images of the services `docker compose up` starts with these profiles, sorted and unique.

    Raises EngineError when the compose file cannot be read (a bundle this tool did not write)."""
    try:
        services = (yaml.safe_load(compose_text) or {}).get("services") or {}
    except yaml.YAMLError as exc:
        raise EngineError(f"compose.yaml of the bundle is not YAML ({exc})") from None
    active = set(profiles)
    return sorted(
        {
            str(service["image"])
            for service in services.values()
            if isinstance(service, dict)
            and "image" in service
            and (not service.get("profiles") or active & set(service["profiles"]))
        }
    )


def to_copy(local: Mapping[str, str | None], remote: Mapping[str, str]) -> list[str]:
    """The names this machine has whose image the host lacks or holds in another version."""
    return sorted(
        name
        for name, image_id in local.items()
        if image_id is not None and remote.get(normalize(name)) != image_id
    )


class LocalImages:
    """This machine's images, through its Docker CLI (`docker save` of several images dedups layers, which
    the SDK's one-image `get_image` cannot). The runner and process factory are injectable."""

    def __init__(
        self,
        run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
        popen: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        self._run = run
        self._popen = popen

    def ids(self, names: Sequence[str]) -> dict[str, str | None]:
        """Each name's image ID here; all None when this machine has no Docker engine (an operator's
        laptop deploying over SSH): then nothing is copied and the host pulls what it lacks."""
        try:
            done = self._run(LIST_ARGV, capture_output=True, text=True, check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return dict.fromkeys(names)
        present = parse_image_list(done.stdout) if done.returncode == 0 else {}
        return {name: present.get(normalize(name)) for name in names}

    def save(self, names: Sequence[str]) -> Iterator[bytes]:
        try:
            proc = self._popen(["docker", "save", *names], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise EngineError(f"cannot run docker save ({exc})") from None
        try:
            while chunk := proc.stdout.read(CHUNK):
                yield chunk
        finally:
            proc.stdout.close()
            error = proc.stderr.read().decode("utf-8", "replace").strip()
            proc.stderr.close()
            code = proc.wait()
        if code != 0:
            raise EngineError(f"docker save {' '.join(names)} failed (exit {code}): {error}")
