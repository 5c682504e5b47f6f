"""Where a deployment runs: one `Engine` interface (base), this machine's Docker (local) or a host over
SSH (ssh, tunnel), compose argument vectors built by pure helpers (compose), `docker inspect` read into
container states (inspect), and images copied to hosts that cannot pull (images)."""

from onprem.engine.base import ContainerState, Engine

__all__ = ["ContainerState", "Engine"]
