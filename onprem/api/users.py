"""Users: login, logout, create, read, update, delete (`/v1/users`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from onprem.api.transport import Endpoints


def _user_path(username: str) -> str:
    return "/v1/users/" + quote(username, safe="")


class UsersEndpoints(Endpoints):
    def login(self, username: str, password: str, *, new_password: str | None = None) -> str:
        """`POST /v1/users/login` (Basic); with `new_password` rotates it. Returns the token, and keeps it
        (and the credentials, to log in again on expiry).

        Raises ApiError: 401 for wrong credentials, code 1024 when a password change is required.
        """
        return self.transport.login(username, password, new_password)

    @property
    def token(self) -> str | None:
        """The current bearer token, if any and not expired."""
        return self.transport.tokens.current()

    def logout(self) -> None:
        """`POST /v1/users/logout`: invalidate the current token (nothing to do without one)."""
        if self.transport.tokens.current() is None:
            return
        self.transport.send("POST", "/v1/users/logout", auth="bearer")
        self.transport.tokens.clear()

    def create_user(self, username: str, password: str) -> None:
        """`POST /v1/users {"username","password"}` (admin). Raises ApiError (1014 when it exists)."""
        self.transport.send("POST", "/v1/users", json={"username": username, "password": password})

    def get_user(self, username: str) -> dict[str, Any]:
        """`GET /v1/users/{username}`: the user's entry. Raises ApiError (404 when unknown)."""
        path = _user_path(username)
        users = self._json("GET", path).get("users")
        if not isinstance(users, list) or not users or not isinstance(users[0], dict):
            raise self._shape_error(f"GET {path}", "`users` entry")
        return users[0]

    def update_user(self, username: str, password: str) -> None:
        """`PUT /v1/users/{username} {"password"}`. Raises ApiError."""
        self.transport.send("PUT", _user_path(username), json={"password": password})

    def delete_user(self, username: str) -> None:
        """`DELETE /v1/users/{username}` (`admin` cannot be deleted). Raises ApiError."""
        self.transport.send("DELETE", _user_path(username))
