"""Application settings and the settings backup/restore (`/v1/settings/...`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onprem.api.transport import Endpoints

APPLICATION = "/v1/settings/application"


class SettingsEndpoints(Endpoints):
    def get_application_settings(self) -> dict[str, Any]:
        """`GET /v1/settings/application`: the `settings.application` object. Raises ApiError."""
        settings = self._json("GET", APPLICATION).get("settings")
        application = settings.get("application") if isinstance(settings, dict) else None
        if not isinstance(application, dict):
            raise self._shape_error(f"GET {APPLICATION}", "`settings.application` object")
        return application

    def patch_application_settings(self, changes: Mapping[str, Any]) -> None:
        """`PATCH /v1/settings/application` with only the fields to change. Raises ApiError."""
        self.transport.send("PATCH", APPLICATION, json=dict(changes))

    def reset_application_settings(self) -> None:
        """`DELETE /v1/settings/application`: back to the defaults. Raises ApiError."""
        self.transport.send("DELETE", APPLICATION)

    def backup_settings(self, password: str) -> str:
        """`POST /v1/settings/backup {"password"}`: the encrypted `settings.data`. Raises ApiError."""
        endpoint = "POST /v1/settings/backup"
        settings = self._json("POST", "/v1/settings/backup", json={"password": password}).get("settings")
        data = settings.get("data") if isinstance(settings, dict) else None
        if not isinstance(data, str) or not data:
            raise self._shape_error(endpoint, "`settings.data`")
        return data

    def restore_settings(self, password: str, data: str) -> None:
        """`POST /v1/settings/restore {"password","data"}`. Raises ApiError (wrong password, bad data)."""
        self.transport.send("POST", "/v1/settings/restore", json={"password": password, "data": data})
