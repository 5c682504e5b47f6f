"""How long each data class is kept, read from the settings that decide it (pure): the client's garbage
collection and callback settings (`GET /v1/settings/application`), the relay's retention and
dead-letter policy, the logging driver's rotation, Prometheus's retention flags, the backups present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from onprem.relay.settings import RelaySettings
from onprem.residency.facts import HostFacts
from onprem.residency.model import Retention

PROMETHEUS_DEFAULT_RETENTION = "15d"
"""Prometheus's own default when its command sets no retention flag."""
PROMETHEUS_FLAGS = (
    "--storage.tsdb.retention.time",
    "--storage.tsdb.retention.size",
    "--storage.tsdb.retention",
)
PROMETHEUS_SERVICE = "prometheus"
LOCAL_LOG_DRIVERS = ("json-file", "local")


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d" if seconds >= 86400 else f"{seconds:g}s"


def _get(settings: Mapping[str, Any], dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def client_retention(application: Mapping[str, Any], error: str | None, what: str) -> Retention:
    """`what`: `messages`, `media` or `callbacks`; read from the client's application settings."""
    if error is not None:
        return Retention("unknown: the client's API did not answer (see api.error)", {})
    if what == "callbacks":
        keys = ("callback_persist", "callback_backoff_delay_ms", "max_callback_backoff_delay_ms")
        found = {k: application.get(k) for k in keys if k in application}
        persist = found.get("callback_persist")
        summary = (
            "kept in the database until the webhook acknowledges it, retried with linear backoff"
            if persist is not False
            else "kept in memory only until the webhook acknowledges it (callback_persist: false)"
        )
        return Retention(summary, found)
    keys = (
        f"garbagecollector_enable.{what}",
        *(("db_garbagecollector_enable",) if what == "messages" else ()),
    )
    found = {k: _get(application, k) for k in keys if _get(application, k) is not None}
    collect = found.get(f"garbagecollector_enable.{what}")
    if collect is True:
        summary = f"the client's garbage collector deletes {what} (garbagecollector_enable.{what}: true)"
    elif collect is False:
        summary = f"kept until deleted: the client's garbage collector is off for {what}"
    else:
        summary = f"unknown: the client does not report garbagecollector_enable.{what}"
    return Retention(summary, found)


def relay_retention(relay: RelaySettings, dead: bool) -> Retention:
    """The relay's store policy: delivered events purged after `retention_seconds`; dead letters kept."""
    store, delivery = relay.store, relay.delivery
    if dead:
        return Retention(
            "kept until replayed (`onprem relay replay`) and delivered: dead letters are never purged",
            {
                "relay.delivery.max_attempts": delivery.max_attempts,
                "relay.delivery.max_age_seconds": delivery.max_age_seconds,
            },
        )
    return Retention(
        f"delivered events purged after {_days(store.retention_seconds)}; undelivered ones retried for up"
        f" to {_days(delivery.max_age_seconds)} or {delivery.max_attempts} attempts, then dead-lettered",
        {
            "relay.store.retention_seconds": store.retention_seconds,
            "relay.store.dedup_window_seconds": store.dedup_window_seconds,
            "relay.delivery.max_age_seconds": delivery.max_age_seconds,
            "relay.delivery.max_attempts": delivery.max_attempts,
        },
    )


def backups_retention(count: int) -> Retention:
    return Retention(
        f"{count} archive(s) in the state directory; onprem deletes none (kept until the operator does)",
        {"count": count},
    )


def logs_retention(hosts: Iterable[HostFacts]) -> Retention:
    """Rotation of each logging driver in use (max-size, max-file); unbounded when json-file has none."""
    kinds = sorted(
        {(c.log_driver, c.log_max_size, c.log_max_file) for h in hosts for c in h.containers},
        key=lambda k: tuple(str(x) for x in k),
    )
    if not kinds:
        return Retention("unknown: no container answered", {})
    parts = []
    for driver, size, files in kinds:
        if driver in LOCAL_LOG_DRIVERS and size is None and driver == "json-file":
            parts.append("json-file without max-size: unbounded, kept until the container is removed")
        elif driver in LOCAL_LOG_DRIVERS:
            parts.append(
                f"{driver}: rotated at {size or 'driver default'}, {files or 'driver default'} file(s)"
            )
        else:
            parts.append(f"{driver}: kept by the log destination")
    settings = {
        driver: {"max-size": size, "max-file": files}
        for driver, size, files in kinds
        if driver in LOCAL_LOG_DRIVERS
    }
    return Retention("; ".join(parts), settings)


def prometheus_retention(hosts: Iterable[HostFacts]) -> Retention:
    """The retention flags of the running Prometheus's command, else Prometheus's default."""
    for host in hosts:
        for container in host.containers:
            if container.service != PROMETHEUS_SERVICE:
                continue
            flags = {
                a.split("=", 1)[0]: a.split("=", 1)[1]
                for a in container.args
                if "=" in a and a.split("=", 1)[0] in PROMETHEUS_FLAGS
            }
            if flags:
                return Retention(", ".join(f"{k}={v}" for k, v in sorted(flags.items())), dict(flags))
            return Retention(
                f"{PROMETHEUS_DEFAULT_RETENTION} (Prometheus's default: its command sets no retention flag)",
                {"--storage.tsdb.retention.time": PROMETHEUS_DEFAULT_RETENTION},
            )
    return Retention(f"{PROMETHEUS_DEFAULT_RETENTION} (Prometheus's default) when it runs", {})
