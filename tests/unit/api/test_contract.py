"""Each request the client sends has the method, path, auth and body keys of Meta's documentation
(reference/ONPREM_API.md, section 2), and each documented answer shape is read correctly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from onprem.api.account import RegistrationAnswer
from onprem.api.auth import Credentials
from onprem.api.client import ApiClient
from tests.unit.api.fake_transport import Answer, FakeWeb, login_answer, make_client


@dataclass(frozen=True)
class Case:
    call: Callable[[ApiClient], Any]
    method: str
    path: str
    auth: str
    body_keys: frozenset[str] | None = None
    content_type: str | None = None
    answer: Answer = (200, {})
    returns: Any = None


CERT = "Q0VSVA=="
CASES: dict[str, Case] = {
    "logout": Case(lambda c: c.logout(), "POST", "/v1/users/logout", "Bearer"),
    "create user": Case(
        lambda c: c.create_user("ops1", "Pa55#word"),
        "POST",
        "/v1/users",
        "Bearer",
        frozenset({"username", "password"}),
        answer=(201, {"users": [{"username": "ops1"}]}),
    ),
    "get user": Case(
        lambda c: c.get_user("ops1"),
        "GET",
        "/v1/users/ops1",
        "Bearer",
        answer=(200, {"users": [{"username": "ops1", "ROLES": "USER"}]}),
        returns={"username": "ops1", "ROLES": "USER"},
    ),
    "update user": Case(
        lambda c: c.update_user("ops1", "Pa55#word2"),
        "PUT",
        "/v1/users/ops1",
        "Bearer",
        frozenset({"password"}),
    ),
    "delete user": Case(lambda c: c.delete_user("ops1"), "DELETE", "/v1/users/ops1", "Bearer"),
    "request code": Case(
        lambda c: c.request_code("1", "6315550000", "sms", CERT),
        "POST",
        "/v1/account",
        "Bearer",
        frozenset({"cc", "phone_number", "method", "cert"}),
        answer=(202, {"account": [{"vname": "Acme"}]}),
        returns=RegistrationAnswer(202, "Acme"),
    ),
    "request code with pin": Case(
        lambda c: c.request_code("1", "6315550000", "voice", CERT, pin="123456"),
        "POST",
        "/v1/account",
        "Bearer",
        frozenset({"cc", "phone_number", "method", "cert", "pin"}),
        answer=(201, None),
        returns=RegistrationAnswer(201, None),
    ),
    "verify": Case(
        lambda c: c.verify("123456"),
        "POST",
        "/v1/account/verify",
        "Bearer",
        frozenset({"code"}),
        answer=(201, {}),
    ),
    "two-step enable": Case(
        lambda c: c.enable_two_step("123456"),
        "POST",
        "/v1/settings/account/two-step",
        "Bearer",
        frozenset({"pin"}),
        answer=(200, None),
    ),
    "two-step disable": Case(
        lambda c: c.disable_two_step(), "DELETE", "/v1/settings/account/two-step", "Bearer"
    ),
    "get shards": Case(
        lambda c: c.get_shards(),
        "GET",
        "/v1/account/shards",
        "Bearer",
        answer=(200, {"account": {"shards": 2}, "meta": {}}),
        returns=2,
    ),
    "set shards": Case(
        lambda c: c.set_shards("1", "6315550000", 4, CERT),
        "POST",
        "/v1/account/shards",
        "Bearer",
        frozenset({"cc", "phone_number", "shards", "cert"}),
        answer=(201, None),
    ),
    "get settings": Case(
        lambda c: c.get_application_settings(),
        "GET",
        "/v1/settings/application",
        "Bearer",
        answer=(200, {"settings": {"application": {"callback_persist": True}}}),
        returns={"callback_persist": True},
    ),
    "patch settings": Case(
        lambda c: c.patch_application_settings({"webhooks": {"url": "https://relay:8443/x"}}),
        "PATCH",
        "/v1/settings/application",
        "Bearer",
        frozenset({"webhooks"}),
    ),
    "reset settings": Case(
        lambda c: c.reset_application_settings(), "DELETE", "/v1/settings/application", "Bearer"
    ),
    "backup": Case(
        lambda c: c.backup_settings("Backup#pass1"),
        "POST",
        "/v1/settings/backup",
        "Bearer",
        frozenset({"password"}),
        answer=(200, {"settings": {"data": "ENCRYPTED"}}),
        returns="ENCRYPTED",
    ),
    "restore": Case(
        lambda c: c.restore_settings("Backup#pass1", "ENCRYPTED"),
        "POST",
        "/v1/settings/restore",
        "Bearer",
        frozenset({"password", "data"}),
    ),
    "upload web certificate": Case(
        lambda c: c.upload_external_certificate("-----BEGIN PRIVATE KEY-----\n"),
        "POST",
        "/v1/certificates/external",
        "Bearer",
        content_type="text/plain",
        answer=(200, None),
    ),
    "get web CA": Case(
        lambda c: c.get_external_ca(),
        "GET",
        "/v1/certificates/external/ca",
        "Bearer",
        answer=(200, "PEM"),
        returns="PEM",
    ),
    "get web CA none": Case(
        lambda c: c.get_external_ca(), "GET", "/v1/certificates/external/ca", "Bearer", answer=(404, None)
    ),
    "upload webhook CA": Case(
        lambda c: c.upload_webhook_ca("-----BEGIN CERTIFICATE-----\n"),
        "POST",
        "/v1/certificates/webhooks/ca",
        "Bearer",
        content_type="text/plain",
    ),
    "get webhook CA": Case(
        lambda c: c.get_webhook_ca(),
        "GET",
        "/v1/certificates/webhooks/ca",
        "Bearer",
        answer=(200, "CA"),
        returns="CA",
    ),
    "delete webhook CA": Case(
        lambda c: c.delete_webhook_ca(), "DELETE", "/v1/certificates/webhooks/ca", "Bearer"
    ),
    "health": Case(
        lambda c: c.health(),
        "GET",
        "/v1/health",
        "Apikey",
        answer=(200, {"health": {"gateway_status": "connected"}}),
        returns={"gateway_status": "connected"},
    ),
    "stats app": Case(
        lambda c: c.stats_app(),
        "GET",
        "/v1/stats/app",
        "Apikey",
        answer=(200, {"stats": {"app": {"pending_callbacks": {}}}}),
        returns={"pending_callbacks": {}},
    ),
    "stats db": Case(
        lambda c: c.stats_db(),
        "GET",
        "/v1/stats/db",
        "Apikey",
        answer=(200, {"stats": {"db": {}}}),
        returns={},
    ),
    "metrics": Case(
        lambda c: c.metrics(), "GET", "/v1/metrics", "Apikey", answer=(200, {"metrics": {}}), returns={}
    ),
    "contacts": Case(
        lambda c: c.check_contacts(["+1 631 555 1001"]),
        "POST",
        "/v1/contacts",
        "Bearer",
        frozenset({"blocking", "contacts", "force_check"}),
        answer=(200, {"contacts": [{"input": "+1 631 555 1001", "wa_id": "16315551001", "status": "valid"}]}),
        returns=[{"input": "+1 631 555 1001", "wa_id": "16315551001", "status": "valid"}],
    ),
    "send text": Case(
        lambda c: c.send_text("16315551001", "hello"),
        "POST",
        "/v1/messages",
        "Bearer",
        frozenset({"recipient_type", "to", "type", "preview_url", "text"}),
        answer=(201, {"messages": [{"id": "gBEGkYiEB1VXAglK1ZEqA1YKPrU"}]}),
        returns="gBEGkYiEB1VXAglK1ZEqA1YKPrU",
    ),
    "mark read": Case(
        lambda c: c.mark_read("gBEG"), "PUT", "/v1/messages/gBEG", "Bearer", frozenset({"status"})
    ),
    "upload media": Case(
        lambda c: c.upload_media(b"\x89PNG", "image/png"),
        "POST",
        "/v1/media",
        "Bearer",
        content_type="image/png",
        answer=(201, {"media": [{"id": "f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68"}]}),
        returns="f043afd0-f0ae-4b9c-ab3d-696fb4c8cd68",
    ),
    "get media": Case(
        lambda c: c.get_media("m1"),
        "GET",
        "/v1/media/m1",
        "Bearer",
        answer=(200, b"\x89PNG", {"Content-Type": "image/png"}),
        returns=(b"\x89PNG", "image/png"),
    ),
    "delete media": Case(lambda c: c.delete_media("m1"), "DELETE", "/v1/media/m1", "Bearer"),
    "get about": Case(
        lambda c: c.get_about(),
        "GET",
        "/v1/settings/profile/about",
        "Bearer",
        answer=(200, {"settings": {"profile": {"about": {"text": "hi"}}}}),
        returns="hi",
    ),
    "set about": Case(
        lambda c: c.set_about("hi"), "PATCH", "/v1/settings/profile/about", "Bearer", frozenset({"text"})
    ),
    "set photo": Case(
        lambda c: c.set_photo(b"\x89PNG", "image/png"),
        "POST",
        "/v1/settings/profile/photo",
        "Bearer",
        content_type="image/png",
    ),
    "get photo": Case(
        lambda c: c.get_photo(),
        "GET",
        "/v1/settings/profile/photo",
        "Bearer",
        answer=(200, b"\x89PNG", {"Content-Type": "image/png"}),
        returns=(b"\x89PNG", "image/png"),
    ),
    "delete photo": Case(lambda c: c.delete_photo(), "DELETE", "/v1/settings/profile/photo", "Bearer"),
    "get business profile": Case(
        lambda c: c.get_business_profile(),
        "GET",
        "/v1/settings/business/profile",
        "Bearer",
        answer=(200, {"settings": {"business": {"profile": {"email": "a@b.co"}}}}),
        returns={"email": "a@b.co"},
    ),
    "set business profile": Case(
        lambda c: c.set_business_profile({"email": "a@b.co", "websites": []}),
        "POST",
        "/v1/settings/business/profile",
        "Bearer",
        frozenset({"email", "websites"}),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_has_documented_method_path_auth_and_body_keys(name: str) -> None:
    case = CASES[name]
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer())
    web.answer(f"{case.method} {case.path}", case.answer)
    client = make_client(web, api_key="k" * 16, credentials=Credentials("admin", "Adm1n#pass"))
    if case.path == "/v1/users/logout":
        client.login("admin", "Adm1n#pass")

    result = case.call(client)

    request = web.sent[-1]
    assert (request.method, request.path) == (case.method, case.path)
    assert request.headers["Authorization"].split(" ")[0] == case.auth
    assert request.verify == "/pinned/ca.pem"
    if case.body_keys is not None:
        assert set(request.json()) == case.body_keys
    if case.content_type is not None:
        assert request.headers["Content-Type"] == case.content_type
    assert result == case.returns


def test_login_sends_basic_auth_and_new_password_only_when_rotating() -> None:
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer("t1"), login_answer("t2"))
    client = make_client(web)

    assert client.login("admin", "secret", new_password="N3w#pass") == "t1"
    assert client.login("admin", "N3w#pass") == "t2"

    first, second = web.sent
    assert first.headers["Authorization"] == "Basic YWRtaW46c2VjcmV0"  # admin:secret
    assert first.json() == {"new_password": "N3w#pass"}
    assert second.json() == {}


def test_registration_reads_202_vname_and_201_already_registered() -> None:
    web = FakeWeb()
    web.answer("POST /v1/users/login", login_answer())
    web.answer("POST /v1/account", (202, {"account": [{"vname": "Acme"}]}), (201, None))
    client = make_client(web)
    client.login("admin", "x")

    sent = client.request_code("1", "6315550000", "sms", CERT)
    again = client.request_code("1", "6315550000", "sms", CERT)

    assert (sent.status, sent.vname, sent.already_registered) == (202, "Acme", False)
    assert again.already_registered
    assert "pin" not in web.sent[-1].json()


def test_prometheus_format_is_asked_with_the_format_parameter() -> None:
    web = FakeWeb()
    web.answer("GET /v1/stats/app", (200, "# TYPE pending_callbacks gauge\n"))
    client = make_client(web, api_key="k" * 16)

    text = client.prometheus_text("/v1/stats/app")

    assert text.startswith("# TYPE")
    assert web.sent[0].query == "format=prometheus"
