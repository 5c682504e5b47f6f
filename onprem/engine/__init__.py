"""Where a deployment runs: one `Engine` interface, with a local implementation (this machine's Docker)."""

from onprem.engine.base import ContainerState, Engine

__all__ = ["ContainerState", "Engine"]
