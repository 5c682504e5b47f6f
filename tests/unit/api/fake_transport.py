"""A requests adapter that plays the client's web server: scripted answers, every request recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter

from onprem.api.client import ApiClient

BASE = "https://web.test:9090"
Answer = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]
Handler = Callable[[requests.PreparedRequest], Answer]


@dataclass
class Sent:
    """One request as it left the client."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    verify: Any

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeWeb(BaseAdapter):
    """Answers from `routes` ("METHOD /path" -> list of answers, the last repeating) or `default`."""

    routes: dict[str, list[Answer | Handler]] = field(default_factory=dict)
    default: Answer = (200, {})
    sent: list[Sent] = field(default_factory=list)
    raise_on_send: Exception | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def answer(self, route: str, *answers: Answer | Handler) -> None:
        self.routes[route] = list(answers)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any = True, **_: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        body = request.body or b""
        self.sent.append(
            Sent(
                str(request.method),
                parts.path,
                parts.query,
                dict(request.headers),
                body.encode() if isinstance(body, str) else body,
                verify,
            )
        )
        if self.raise_on_send is not None:
            raise self.raise_on_send
        script = self.routes.get(f"{request.method} {parts.path}")
        answer: Answer | Handler = self.default
        if script:
            answer = script.pop(0) if len(script) > 1 else script[0]
        if callable(answer):
            answer = answer(request)
        status, payload, *rest = answer
        response = requests.Response()
        response.status_code = status
        response.url = request.url or ""
        response.request = request
        headers = dict(rest[0]) if rest else {}
        if isinstance(payload, bytes | str):
            response._content = payload.encode() if isinstance(payload, str) else payload
        elif payload is None:
            response._content = b""
        else:
            response._content = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        response.headers.update(headers)
        return response

    def close(self) -> None:
        pass


def login_answer(token: str = "tok-1", expires: str = "2026-01-08 00:00:00+00:00") -> Answer:  # noqa: S107
    return (200, {"users": [{"token": token, "expires_after": expires}]})


def error_answer(status: int, code: int, title: str = "t", details: str = "") -> Answer:
    return (status, {"errors": [{"code": code, "title": title, "details": details}], "meta": {}})


class Clock:
    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_client(
    web: FakeWeb, *, ca_file: Path = Path("/pinned/ca.pem"), clock: Clock | None = None, **kwargs: Any
) -> ApiClient:
    session = requests.Session()
    session.mount("https://", web)
    clock = clock or Clock()
    return ApiClient(BASE, ca_file=ca_file, session=session, clock=clock, sleep=clock.sleep, **kwargs)
