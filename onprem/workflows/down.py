"""`onprem down`: remove the deployment's containers and network; with `volumes`, its data too."""

from __future__ import annotations

from onprem.deployment import Deployment
from onprem.engine.base import ExecEngine
from onprem.engine.compose import down_args
from onprem.engine.hosts import HostsEngine
from onprem.errors import EngineError
from onprem.releases import ReleaseStore
from onprem.workflows.prepare import render_only


def down(deployment: Deployment, *, volumes: bool) -> dict[str, object]:
    """Stop and remove every container of the deployment (every profile), and its named volumes when
    `volumes` (data loss: the caller asks first). With several hosts, every host that answers is taken
    down even when one does not. Raises EngineError, and as `render_only` when the bundle must be
    rendered first."""
    if not deployment.bundle_manifest():
        render_only(deployment)
    engine = deployment.engine
    args = down_args(volumes=volumes)
    if isinstance(engine, HostsEngine):
        _down_each(deployment, engine, args)
    else:
        engine.check()
        engine.compose(deployment.state.bundle, deployment.project, args, profiles=["monitoring"])
    ReleaseStore(deployment.state).clear_current()
    return {"deployment": deployment.project, "down": True, "volumes_deleted": volumes}


def _down_each(deployment: Deployment, engine: HostsEngine, args: list[str]) -> None:
    """Take every host that answers down, then raise EngineError naming those that did not (a lost
    host must not keep the others running)."""

    def down_one(host: str, host_engine: ExecEngine) -> str | None:
        try:
            host_engine.compose(engine.bundle_dirs[host], deployment.project, args, profiles=["monitoring"])
        except EngineError as exc:
            return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None

    failed = {host: why for host, why in engine.each(down_one).items() if why is not None}
    if failed:
        lines = "; ".join(f"{host}: {why}" for host, why in failed.items())
        raise EngineError(
            f"{', '.join(failed)} could not be taken down ({lines}); every other host is down. Run "
            "`onprem down` again once they answer"
        )
