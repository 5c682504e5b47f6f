"""Client for the On-Premises REST API (the `web` container), over `requests`."""

from onprem.api.account import RegistrationAnswer
from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from onprem.api.transport import RetryPolicy

__all__ = ["ApiClient", "Credentials", "RegistrationAnswer", "RetryPolicy"]
