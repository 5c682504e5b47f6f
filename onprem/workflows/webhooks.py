"""`webhooks set`: point the client's callbacks at the relay and make the client trust the relay's CA.

The client only calls HTTPS webhook URLs; inside the stack network the relay is `relay:8443`, and the
secret path token authenticates the client to it. The CA is compared by certificate, not by bytes, so a
re-run with the same CA changes nothing (and restarts nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from onprem import pki
from onprem.config import Settings
from onprem.deployment import Deployment
from onprem.errors import ConfigError
from onprem.topology import relay_address
from onprem.workflows.gate import restart


class WebhookApi(Protocol):
    def get_application_settings(self) -> dict[str, Any]: ...

    def patch_application_settings(self, changes: dict[str, Any]) -> None: ...

    def get_webhook_ca(self) -> str | None: ...

    def upload_webhook_ca(self, ca_pem: str) -> None: ...


def relay_url(settings: Settings, path_token: str) -> str:
    """The callback URL of the relay's On-Prem ingress, as the client's Coreapps reach it."""
    host, port = relay_address(settings)
    return f"https://{host}:{port}/webhooks/onprem/{path_token}"


def _same_certs(a: str | None, b: str) -> bool:
    if not a:
        return False
    try:
        return [pki.cert_pem(c) for c in pki.load_certs(a)] == [pki.cert_pem(c) for c in pki.load_certs(b)]
    except ValueError:
        return False


def set_webhooks(
    api: WebhookApi, *, url: str, ca_pem: str, restart_core: Callable[[], object]
) -> dict[str, str]:
    """Set `webhooks.url` and upload the webhook CA, each only when different; restart coreapp after a
    new CA (the client reads it at start). Returns {"url": ..., "ca": ...} with "set" or "unchanged".

    Raises ConfigError when `ca_pem` holds no certificate, ApiError when the client refuses.
    """
    try:
        if not pki.load_certs(ca_pem):
            raise ValueError("empty")
    except ValueError:
        raise ConfigError("the relay's CA is not a PEM certificate; run `onprem certs issue`") from None
    current = api.get_application_settings().get("webhooks")
    current_url = current.get("url") if isinstance(current, dict) else None
    outcome = {"url": "unchanged", "ca": "unchanged"}
    if not _same_certs(api.get_webhook_ca(), ca_pem):
        api.upload_webhook_ca(ca_pem)
        outcome["ca"] = "set"
    if current_url != url:
        api.patch_application_settings({"webhooks": {"url": url}})
        outcome["url"] = "set"
    if outcome["ca"] == "set":
        restart_core()
    return outcome


def set_for(deployment: Deployment) -> dict[str, str]:
    """`onprem webhooks set`: point the deployment's client at its relay and upload the relay's CA.

    The answer shows the URL with its path token replaced by `<RELAY_PATH_TOKEN>`. Raises ConfigError
    when the relay does not serve TLS or no CA was issued, ApiError, GateError."""
    ca = deployment.state.certs.read("root.pem")
    token = deployment.secrets.read("RELAY_PATH_TOKEN")
    if ca is None or token is None:
        raise ConfigError(
            "no internal CA or relay path token in the state directory: "
            "run `onprem certs issue`, then `onprem deploy`"
        )
    outcome = set_webhooks(
        deployment.api(),
        url=relay_url(deployment.settings, token),
        ca_pem=ca,
        restart_core=lambda: restart(deployment, deployment.core_services),
    )
    return {**outcome, "url_template": relay_url(deployment.settings, "<RELAY_PATH_TOKEN>")}
