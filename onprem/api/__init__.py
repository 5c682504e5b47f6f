"""Client for the On-Premises REST API (the `web` container), over `requests`."""

from onprem.api.client import ApiClient

__all__ = ["ApiClient"]
