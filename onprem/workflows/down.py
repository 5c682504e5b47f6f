"""`onprem down`: remove the deployment's containers and network; with `volumes`, its data too."""

from __future__ import annotations

from onprem.deployment import Deployment
from onprem.engine.compose import down_args
from onprem.releases import ReleaseStore
from onprem.workflows.prepare import render_only


def down(deployment: Deployment, *, volumes: bool) -> dict[str, object]:
    """Stop and remove every container of the deployment (every profile), and its named volumes when
    `volumes` (data loss: the caller asks first). Raises EngineError, and as `render_only` when the
    bundle must be rendered first."""
    if not deployment.bundle_manifest():
        render_only(deployment)
    deployment.engine.check()
    deployment.engine.compose(
        deployment.state.bundle, deployment.project, down_args(volumes=volumes), profiles=["monitoring"]
    )
    ReleaseStore(deployment.state).clear_current()
    return {"deployment": deployment.project, "down": True, "volumes_deleted": volumes}
