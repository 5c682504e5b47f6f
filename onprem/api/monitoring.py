"""Health, stats and metrics: answered with the API key (`Authorization: Apikey`), else a token."""

from __future__ import annotations

from typing import Any

from onprem.api.transport import Endpoints
from onprem.errors import ApiError

PROMETHEUS = {"format": "prometheus"}


class MonitoringEndpoints(Endpoints):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        """`GET /v1/health`: the `health` object. Raises ApiError."""
        health = self._json("GET", "/v1/health", auth="apikey", timeout=timeout).get("health")
        if not isinstance(health, dict):
            raise ApiError("GET /v1/health: the answer has no `health` object", endpoint="GET /v1/health")
        return health

    def stats_app(self) -> dict[str, Any]:
        """`GET /v1/stats/app`: `stats.app`, metric name -> {type, help, data}. Raises ApiError."""
        return self._stats("app")

    def stats_db(self) -> dict[str, Any]:
        """`GET /v1/stats/db` (slow: poll only when needed): `stats.db`. Raises ApiError."""
        return self._stats("db", timeout=120)

    def metrics(self) -> dict[str, Any]:
        """`GET /v1/metrics`: the `metrics` object of the web app. Raises ApiError."""
        metrics = self._json("GET", "/v1/metrics", auth="apikey").get("metrics")
        if not isinstance(metrics, dict):
            raise self._shape_error("GET /v1/metrics", "`metrics` object")
        return metrics

    def prometheus_text(self, path: str) -> str:
        """`GET <path>?format=prometheus` for /v1/metrics, /v1/stats/app or /v1/stats/db. Raises ApiError."""
        if path not in ("/v1/metrics", "/v1/stats/app", "/v1/stats/db"):
            raise ValueError(f"{path} has no Prometheus format")
        return self.transport.send("GET", path, auth="apikey", params=PROMETHEUS).text

    def _stats(self, kind: str, timeout: float | None = None) -> dict[str, Any]:
        path = f"/v1/stats/{kind}"
        stats = self._json("GET", path, auth="apikey", timeout=timeout).get("stats")
        section = stats.get(kind) if isinstance(stats, dict) else None
        if not isinstance(section, dict):
            raise self._shape_error(f"GET {path}", f"`stats.{kind}` object")
        return section
