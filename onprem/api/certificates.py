"""Certificates: the web endpoint's chain and CA, and the CA of the webhook endpoint (`/v1/certificates`)."""

from __future__ import annotations

from onprem.api.transport import Endpoints, is_not_found
from onprem.errors import ApiError

EXTERNAL = "/v1/certificates/external"
EXTERNAL_CA = "/v1/certificates/external/ca"
WEBHOOKS_CA = "/v1/certificates/webhooks/ca"
PEM = {"Content-Type": "text/plain"}


class CertificatesEndpoints(Endpoints):
    def upload_external_certificate(self, bundle_pem: str) -> None:
        """`POST /v1/certificates/external` (text/plain: key, cert, intermediates). Web must restart.

        Raises ApiError. Check the bundle first: a bad one keeps the real web server from starting.
        """
        self.transport.send("POST", EXTERNAL, data=bundle_pem.encode(), headers=PEM)

    def get_external_ca(self) -> str | None:
        """`GET /v1/certificates/external/ca`: the CA PEM, or None (404) when there is none."""
        return self._pem_or_none(EXTERNAL_CA)

    def upload_webhook_ca(self, ca_pem: str) -> None:
        """`POST /v1/certificates/webhooks/ca` (text/plain PEM). Coreapp must restart. Raises ApiError."""
        self.transport.send("POST", WEBHOOKS_CA, data=ca_pem.encode(), headers=PEM)

    def get_webhook_ca(self) -> str | None:
        """`GET /v1/certificates/webhooks/ca`: the uploaded CA PEM, or None (404) when none is set."""
        return self._pem_or_none(WEBHOOKS_CA)

    def delete_webhook_ca(self) -> None:
        """`DELETE /v1/certificates/webhooks/ca`. Raises ApiError."""
        self.transport.send("DELETE", WEBHOOKS_CA)

    def _pem_or_none(self, path: str) -> str | None:
        try:
            return self.transport.send("GET", path).text
        except ApiError as exc:
            if is_not_found(exc):
                return None
            raise
