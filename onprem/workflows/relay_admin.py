"""The relay's dead letters from the operator's machine: `onprem relay dlq list` and `relay replay` run
the same commands inside the deployment's relay container (through the engine, so over SSH too), where
the store and its settings are, and read back their JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from onprem.deployment import Deployment
from onprem.errors import ConfigError, EngineError, StateError
from onprem.sidecars import RELAY_SETTINGS_PATH

RELAY_SERVICE = "relay"


def _in_relay(deployment: Deployment, args: Sequence[str]) -> dict[str, Any]:
    """Run `onprem relay ARGS --settings <relay.yaml> --json` in the relay container; its JSON answer.

    Raises ConfigError when the deployment has no relay, EngineError when it does not run, StateError
    with the relay's own message when the command fails there."""
    if not deployment.settings.relay.enabled:
        raise ConfigError(
            f"{deployment.loaded.where('relay')}: relay.enabled is false: there is no relay store"
        )
    argv = ["onprem", "relay", *args, "--settings", RELAY_SETTINGS_PATH, "--json"]
    try:
        code, out, err = deployment.engine.exec(deployment.project, RELAY_SERVICE, argv)
    except EngineError as exc:
        raise EngineError(f"{exc}; the relay must run to reach its store (`onprem status`)") from None
    if code != 0:
        message = err.decode("utf-8", "replace").strip().removeprefix("error: ")
        raise StateError(f"relay container: {message or f'onprem relay {args[0]} exited {code}'}")
    try:
        document = json.loads(out)
    except ValueError:
        raise StateError(f"relay container: onprem relay {args[0]} did not answer JSON") from None
    if not isinstance(document, dict):
        raise StateError(f"relay container: onprem relay {args[0]} answered {type(document).__name__}")
    return document


def list_dead(deployment: Deployment, *, endpoint: str | None, limit: int) -> dict[str, Any]:
    """`{"dead_letters": [...], "count": N}` from the deployment's relay store (bodies not included)."""
    args = ["dlq", "list", "--limit", str(limit)]
    if endpoint is not None:
        args += ["--endpoint", endpoint]
    return _in_relay(deployment, args)


def replay(
    deployment: Deployment, *, endpoint: str | None, event_ids: Sequence[str], replay_all: bool
) -> dict[str, Any]:
    """Requeue dead letters in the deployment's relay store: `{"requeued": N}`. Raises ConfigError
    when nothing names what to replay."""
    if not (replay_all or endpoint or event_ids):
        raise ConfigError("relay replay: name --endpoint, --id or --all")
    args = ["replay"]
    if replay_all:
        args.append("--all")
    if endpoint is not None:
        args += ["--endpoint", endpoint]
    for event_id in event_ids:
        args += ["--id", event_id]
    return _in_relay(deployment, args)


def message_statuses(deployment: Deployment, message_id: str, *, since: float) -> list[dict[str, Any]]:
    """The status callbacks the deployment's relay received for `message_id` since `since`, oldest
    first (`{"status", "timestamp", "errors"}`). Raises as `_in_relay`."""
    document = _in_relay(deployment, ["statuses", message_id, "--since", repr(since)])
    found = document.get("statuses")
    if not isinstance(found, list):
        raise StateError("relay container: onprem relay statuses answered no `statuses` list")
    return [entry for entry in found if isinstance(entry, dict)]
