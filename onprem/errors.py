"""The one exception tree of onprem.

Every error the tool raises on purpose derives from `OnpremError` and carries the process exit code the
CLI uses for it. Messages are written for the operator: what failed, where, and what would fix it. They
never contain secret values.

    1  OnpremError    not healthy, or another failure
    2  ConfigError    invalid config, input or secret (names file, line and field)
       SecretError
    3  EngineError    the Docker engine or Compose failed
    4  GateError      the health gate failed (names the service, carries its logs)
    5  ApiError       the client's API refused or is unreachable
    6  StateError     the state directory (or a sidecar's store) is unusable
    7  ServeError     a server process (relay, exporter, emulator) cannot start
    8  LockError      another command holds the deployment's lock (names holder, host, pid, since when)
    9  CloudApiError  the Cloud API (Meta's Graph API) refused or is unreachable
   10  MigrationError `migrate cloud` stopped at a step (names it, what is left as it was, how to resume)
  130                 the operator declined a confirmation or interrupted (set by the CLI)
"""

from __future__ import annotations


class OnpremError(Exception):
    """Base of every error onprem raises on purpose. Exit code 1."""

    exit_code = 1


class ConfigError(OnpremError):
    """The configuration (file, environment or flags) is invalid. Exit code 2.

    `problems` holds one line per problem, each naming file, line and field.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class SecretError(OnpremError):
    """A secret could not be read from its source (file, environment variable, command). Exit code 2."""

    exit_code = 2


class EngineError(OnpremError):
    """The Docker engine or Compose is missing, unreachable, or a compose command failed. Exit code 3."""

    exit_code = 3


class GateError(OnpremError):
    """A deployment did not become healthy in time. Exit code 4.

    `service` names the failing service and `logs` carries its last log lines.
    """

    exit_code = 4

    def __init__(self, message: str, *, service: str | None = None, logs: str = "") -> None:
        self.service = service
        self.logs = logs
        super().__init__(message)


class ApiError(OnpremError):
    """The On-Premises REST API answered with an error, or could not be reached. Exit code 5.

    Carries the HTTP status, the WhatsApp error code, title and details, and the endpoint called.
    """

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        title: str = "",
        details: str = "",
        endpoint: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.details = details
        self.endpoint = endpoint
        super().__init__(message)


class StateError(OnpremError):
    """The local state directory is unusable (permissions, corrupt files). Exit code 6."""

    exit_code = 6


class ServeError(OnpremError):
    """A server process (relay, exporter, emulator) cannot start: its address is taken, its store or
    certificate is unusable. Exit code 7."""

    exit_code = 7


class LockError(OnpremError):
    """Another command holds the deployment's lock, on this machine or on one of its hosts. Exit code 8.

    The message names the holder (user, host, pid), since when, its command and reason, and the way out.
    """

    exit_code = 8


class CloudApiError(OnpremError):
    """The Cloud API (Meta's Graph API) answered with an error, or could not be reached. Exit code 9.

    Carries the HTTP status, the Graph error `code`, `error_subcode`, `details` (error_data.details) and
    the endpoint called (never the token)."""

    exit_code = 9

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        details: str = "",
        endpoint: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.subcode = subcode
        self.details = details
        self.endpoint = endpoint
        super().__init__(message)


class MigrationError(OnpremError):
    """`onprem migrate cloud` stopped: the message names the step that failed, what is left as it was and
    the exact command that resumes. Exit code 10."""

    exit_code = 10

    def __init__(self, message: str, *, step: str) -> None:
        self.step = step
        super().__init__(message)
