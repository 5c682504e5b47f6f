"""What "changes nothing" is checked against: everything an engine holds for a project (containers with
their start times, networks, volumes, every image) and every file of a directory (content, mode, mtime)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Docker = Callable[..., "subprocess.CompletedProcess[str]"]


def local_docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)


def _lines(docker: Docker, *args: str) -> list[str]:
    done = docker(*args)
    assert done.returncode == 0, done.stderr
    return sorted(line for line in done.stdout.splitlines() if line.strip())


def _inspect(docker: Docker, kind: str, ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    done = docker(kind, "inspect", *ids)
    assert done.returncode == 0, done.stderr
    documents = json.loads(done.stdout)
    return sorted(
        ({f: json.dumps(_get(d, f), sort_keys=True) for f in fields} for d in documents),
        key=lambda d: json.dumps(d, sort_keys=True),
    )


def _get(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def engine_state(project: str, docker: Docker = local_docker) -> dict[str, Any]:
    """Containers (id, state, start and finish times, image, config hash), networks, volumes and images."""
    label = f"label=com.docker.compose.project={project}"
    containers = _lines(docker, "ps", "-aq", "--no-trunc", "--filter", label)
    networks = _lines(docker, "network", "ls", "-q", "--no-trunc", "--filter", label)
    volumes = _lines(docker, "volume", "ls", "-q", "--filter", label)
    return {
        "containers": _inspect(
            docker,
            "container",
            containers,
            ["Id", "State.Status", "State.StartedAt", "State.FinishedAt", "Image", "Config.Labels"],
        ),
        "networks": _inspect(docker, "network", networks, ["Id", "Created"]),
        "volumes": _inspect(docker, "volume", volumes, ["Name", "CreatedAt", "Labels"]),
        "images": _lines(
            docker, "image", "ls", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"
        ),
    }


def tree_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file below `root`: (sha256, mode, mtime in ns); directories by mode and mtime."""
    found: dict[str, tuple[str, int, int]] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(root))] = (digest, stat.st_mode, stat.st_mtime_ns)
    return found
