"""Authentication: Apikey first, token fallback, re-login on 401; errors for unusable answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from onprem.exporter.fakes import FakeTransport
from onprem.exporter.settings import LoginSettings
from onprem.exporter.transport import UpstreamError, UpstreamResponse
from onprem.exporter.upstream import UpstreamAuth, UpstreamClient
from onprem.tokens import parse_expiry


def secret(tmp_path: Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def client(
    fake: FakeTransport, tmp_path: Path, *, key: str | None, password: str | None = None
) -> UpstreamClient:
    key_file = secret(tmp_path, "WA_API_KEY", key) if key is not None else str(tmp_path / "absent")
    login = None
    if password is not None:
        login = LoginSettings(username="admin", password_file=secret(tmp_path, "PW", password))
    return UpstreamClient(fake, UpstreamAuth(fake, api_key_file=key_file, login=login))


def test_the_api_key_is_sent_as_apikey(tmp_path: Path) -> None:
    fake = FakeTransport()
    document, _ = asyncio.run(client(fake, tmp_path, key=fake.api_key).get_json("/v1/health"))
    assert document["health"]["gateway_status"] == "connected"
    assert fake.calls == [("GET", "/v1/health", "Apikey")]


def test_a_rejected_api_key_falls_back_to_a_token_and_keeps_it(tmp_path: Path) -> None:
    fake = FakeTransport()
    upstream = client(fake, tmp_path, key="wrong-key-123456", password=fake.password)

    async def twice() -> None:
        await upstream.get_json("/v1/health")
        await upstream.get_json("/v1/stats/app")

    asyncio.run(twice())
    assert fake.calls == [
        ("GET", "/v1/health", "Apikey"),
        ("POST", "/v1/users/login", "Basic"),
        ("GET", "/v1/health", "Bearer"),
        ("GET", "/v1/stats/app", "Bearer"),
    ]


def test_a_missing_api_key_file_uses_the_login(tmp_path: Path) -> None:
    fake = FakeTransport()
    asyncio.run(client(fake, tmp_path, key=None, password=fake.password).get_json("/v1/health"))
    assert [auth for _, _, auth in fake.calls] == ["Basic", "Bearer"]


def test_a_token_rejected_later_is_renewed_by_a_new_login(tmp_path: Path) -> None:
    fake = FakeTransport()
    upstream = client(fake, tmp_path, key=None, password=fake.password)

    async def scenario() -> None:
        await upstream.get_json("/v1/health")
        fake.tokens.clear()  # the upstream forgot every token (restart, logout)
        await upstream.get_json("/v1/health")

    asyncio.run(scenario())
    assert [auth for _, _, auth in fake.calls] == ["Basic", "Bearer", "Bearer", "Basic", "Bearer"]
    assert len(fake.tokens) == 1


def test_a_rotated_api_key_file_is_picked_up_after_a_401(tmp_path: Path) -> None:
    fake = FakeTransport()
    upstream = client(fake, tmp_path, key="old-key-1234567")
    with pytest.raises(UpstreamError, match="HTTP 401"):
        asyncio.run(upstream.get_json("/v1/health"))
    secret(tmp_path, "WA_API_KEY", fake.api_key)  # the operator rotates the key file
    document, _ = asyncio.run(upstream.get_json("/v1/health"))
    assert "health" in document
    assert [auth for _, _, auth in fake.calls] == ["Apikey", "Apikey"]


def test_a_wrong_key_without_login_is_an_error_naming_the_status(tmp_path: Path) -> None:
    fake = FakeTransport()
    with pytest.raises(UpstreamError, match="HTTP 401") as caught:
        asyncio.run(client(fake, tmp_path, key="wrong-key-123456").get_json("/v1/health"))
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value)


def test_no_credentials_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UpstreamError, match="no API key"):
        asyncio.run(client(FakeTransport(), tmp_path, key=None).get_json("/v1/health"))


def test_a_refused_login_is_an_error(tmp_path: Path) -> None:
    fake = FakeTransport()
    with pytest.raises(UpstreamError, match="login as admin answered HTTP 401"):
        asyncio.run(client(fake, tmp_path, key=None, password="Wrong-pass1").get_json("/v1/health"))


def test_a_login_answer_without_token_is_an_error(tmp_path: Path) -> None:
    fake = FakeTransport(overrides={"/v1/users/login": UpstreamResponse(200, b'{"users": []}')})
    with pytest.raises(UpstreamError, match="no users"):
        asyncio.run(client(fake, tmp_path, key=None, password=fake.password).get_json("/v1/health"))


def test_non_json_and_non_2xx_answers_are_errors(tmp_path: Path) -> None:
    fake = FakeTransport(
        overrides={
            "/v1/health": UpstreamResponse(200, b"<html>"),
            "/v1/metrics": UpstreamResponse(503, b"{}"),
        }
    )
    upstream = client(fake, tmp_path, key=fake.api_key)
    with pytest.raises(UpstreamError, match="not JSON"):
        asyncio.run(upstream.get_json("/v1/health"))
    with pytest.raises(UpstreamError, match="HTTP 503"):
        asyncio.run(upstream.get_json("/v1/metrics"))


def test_concurrent_collectors_share_one_login(tmp_path: Path) -> None:
    fake = FakeTransport(delay=0.01)
    upstream = client(fake, tmp_path, key=None, password=fake.password)

    async def burst() -> None:
        await asyncio.gather(*(upstream.get_json("/v1/health") for _ in range(5)))

    asyncio.run(burst())
    assert [auth for _, _, auth in fake.calls].count("Basic") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2099-01-01 00:00:00+00:00", 4070908800.0),
        ("2099-01-01T00:00:00.000Z", 4070908800.0),
        ("soon", None),
        (None, None),
    ],
)
def test_token_expiry_formats(text: object, expected: float | None) -> None:
    assert parse_expiry(text) == expected
