"""Pure translation of `docker inspect` data (SDK `attrs` or CLI JSON) into `ContainerState`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onprem.engine.base import ContainerState, VolumeState

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def container_state(attrs: Mapping[str, Any]) -> ContainerState:
    """One container's state from its inspect document."""
    state = attrs.get("State") or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    ports = []
    for inner, bindings in sorted(((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items()):
        for binding in bindings or []:
            ports.append(f"{binding.get('HostIp')}:{binding.get('HostPort')}->{inner}")
    return ContainerState(
        service=str(labels.get(SERVICE_LABEL, "")),
        name=str(attrs.get("Name", "")).lstrip("/"),
        state=str(state.get("Status", "unknown")),
        health=(state.get("Health") or {}).get("Status"),
        exit_code=int(state.get("ExitCode", 0) or 0),
        ports=tuple(ports),
        image_id=str(attrs.get("Image", "")),
    )


def sorted_states(documents: list[Mapping[str, Any]]) -> list[ContainerState]:
    """States of several containers, sorted by service then name."""
    return sorted((container_state(d) for d in documents), key=lambda c: (c.service, c.name))


def volume_state(attrs: Mapping[str, Any]) -> VolumeState:
    """A volume from its inspect document."""
    labels = attrs.get("Labels") or {}
    return VolumeState(
        name=str(attrs.get("Name", "")),
        created=str(attrs.get("CreatedAt", "")),
        labels={str(k): str(v) for k, v in labels.items()},
    )
