"""Day-one operations against `onprem emulator web|core` processes on real MariaDB and PostgreSQL.

Shows: registration persists across a web restart; callbacks reach a local HTTPS sink whose CA was
uploaded as the webhook CA, retried with linear backoff, and survive a core restart; a settings backup
restores into a fresh, unregistered client, while a wrong password changes nothing.
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from onprem.emulator.testing import make_pki
from onprem.emulator.vname import encode_cert
from tests.integration.conftest import free_port
from tests.integration.emulator.conftest import Database, Role, wait_until
from tests.integration.emulator.test_processes import API_KEY, NEW_PASSWORD, Web, start_core, start_web

pytestmark = pytest.mark.integration
HOOKS = {"ONPREM_EMULATOR_TEST_HOOKS": "1", "ONPREM_EMULATOR_STATUS_DELAY": "0.2"}
ACCOUNT = {"cc": "1", "phone_number": "6315550000", "method": "sms", "cert": encode_cert("Acme Pizza")}


class Admin:
    """An admin session on a web process."""

    def __init__(self, web: Web, password: str = "secret", rotate: bool = True) -> None:  # noqa: S107
        self.web = web
        response = web.login(password, NEW_PASSWORD if rotate else None)
        assert response.status_code == 200, response.text
        self.token = response.json()["users"][0]["token"]

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.web.call(method, path, json=body, headers=headers, **kwargs)

    def register(self, data_dir: Path) -> None:
        assert self.call("POST", "/v1/account", ACCOUNT).status_code == 202
        code = (data_dir / "registration-code").read_text().strip()
        assert self.call("GET", "/_emulator/registration-code").json()["code"] == code
        assert self.call("POST", "/v1/account/verify", {"code": code}).status_code == 201


class Sink:
    """An HTTPS webhook endpoint on 127.0.0.1 that fails the first `failures` POSTs with 500."""

    def __init__(self, cert_dir: Path, failures: int) -> None:
        pki = make_pki(("127.0.0.1",))
        self.ca_pem = pki.root_pem
        (cert_dir / "sink.pem").write_text(pki.leaf_pem + pki.intermediate_pem)
        (cert_dir / "sink.key").write_text(pki.leaf_key_pem)
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.failures = failures
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sink.received.append((time.monotonic(), body))
                status = 500 if len(sink.received) <= sink.failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert_dir / "sink.pem"), str(cert_dir / "sink.key"))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/hook/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def statuses(self) -> list[str]:
        return [s["status"] for _, body in self.received for s in body.get("statuses", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[[int], Sink]]:
    sinks: list[Sink] = []

    def make(failures: int) -> Sink:
        sinks.append(Sink(tmp_path, failures))
        return sinks[-1]

    yield make
    for sink in sinks:
        sink.close()


def test_registration_persists_across_a_web_restart(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    env = {**database.env(prefix), **HOOKS}
    role, web = start_web(spawn, env, tmp_path)
    start_core(spawn, env, tmp_path, "wacore")
    admin = Admin(web)
    admin.register(tmp_path)
    wait_until(lambda: web.health() == {"gateway_status": "connected"}, what="connected")
    assert "registration code" in role.output()
    assert role.stop() == 0
    _, web = start_web(spawn, env, tmp_path)
    admin = Admin(web, NEW_PASSWORD, rotate=False)
    assert admin.call("POST", "/v1/account", ACCOUNT).status_code == 201
    assert web.health() == {"gateway_status": "connected"}


def test_callbacks_reach_an_https_sink_with_backoff_and_survive_a_core_restart(
    database: Database,
    prefix: str,
    spawn: Callable[..., Role],
    tmp_path: Path,
    sink_factory: Callable[[int], Sink],
) -> None:
    env = {**database.env(prefix), **HOOKS}
    _, web = start_web(spawn, env, tmp_path)
    core = start_core(spawn, env, tmp_path, "wacore")
    admin = Admin(web)
    admin.register(tmp_path)
    sink = sink_factory(3)
    headers = {"Content-Type": "text/plain"}
    assert (
        admin.call("POST", "/v1/certificates/webhooks/ca", data=sink.ca_pem, headers=headers).status_code
        == 200
    )
    settings = {
        "webhooks": {"url": sink.url},
        "callback_backoff_delay_ms": 400,
        "max_callback_backoff_delay_ms": 2000,
    }
    assert admin.call("PATCH", "/v1/settings/application", settings).status_code == 200
    inbound = admin.call("POST", "/_emulator/inbound", {"from": "16315551234", "text": "hi", "name": "Kerry"})
    assert inbound.status_code == 201
    wait_until(lambda: len(sink.received) >= 4, timeout=20, what="4 attempts")
    times = [t for t, _ in sink.received[:4]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Linear backoff: 0.4 s, 0.8 s, 1.2 s (plus a scheduling tick of 0.2 s at most, and some slack).
    for gap, expected in zip(gaps, (0.4, 0.8, 1.2), strict=True):
        assert expected - 0.05 <= gap <= expected + 0.6, gaps
    first = sink.received[0][1]
    assert first["contacts"] == [{"profile": {"name": "Kerry"}, "wa_id": "16315551234"}]
    assert first["messages"][0]["text"] == {"body": "hi"}
    assert all(body == first for _, body in sink.received[:4])

    sent = admin.call(
        "POST", "/v1/messages", {"to": "16315551234", "type": "text", "text": {"body": "hello"}}
    )
    assert sent.status_code == 201
    message_id = sent.json()["messages"][0]["id"]
    wait_until(lambda: sink.statuses() == ["sent", "delivered"], timeout=15, what="statuses")
    assert {s["id"] for _, b in sink.received for s in b.get("statuses", [])} == {message_id}

    assert core.stop() == 0
    queued = admin.call("POST", "/_emulator/inbound", {"from": "16315551234", "text": "while core is down"})
    assert queued.status_code == 201
    time.sleep(0.5)
    assert not any(
        m["text"]["body"] == "while core is down" for _, b in sink.received for m in b.get("messages", [])
    )
    stats = web.call("GET", "/v1/stats/app", headers={"Authorization": f"Bearer {admin.token}"}).json()
    assert stats["stats"]["app"]["callback_queue_size"]["data"][0]["value"] == 1
    start_core(spawn, env, tmp_path, "wacore")
    wait_until(
        lambda: any(
            m["text"]["body"] == "while core is down" for _, b in sink.received for m in b.get("messages", [])
        ),
        timeout=15,
        what="queued callback delivered after the restart",
    )


def test_a_backup_restores_into_a_fresh_client_and_a_wrong_password_changes_nothing(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    env = {**database.env(prefix), **HOOKS}
    _, web = start_web(spawn, env, source_dir)
    admin = Admin(web)
    admin.register(source_dir)
    assert admin.call("PATCH", "/v1/settings/application", {"webhooks": {"url": "https://relay:8443/x"}}).ok
    backup = admin.call("POST", "/v1/settings/backup", {"password": "Backup-Pass1"})
    assert backup.status_code == 200
    data = backup.json()["settings"]["data"]

    target_env = {**database.env(prefix + "b"), **HOOKS}
    _, target = start_web(spawn, target_env, target_dir)
    fresh = Admin(target)
    wrong = fresh.call("POST", "/v1/settings/restore", {"password": "Wrong-Pass1", "data": data})
    assert wrong.status_code == 400
    assert "wrong password" in wrong.json()["errors"][0]["details"]
    app = fresh.call("GET", "/v1/settings/application").json()["settings"]["application"]
    assert "wa_id" not in app
    assert "url" not in app["webhooks"]
    assert (
        fresh.call("POST", "/v1/settings/restore", {"password": "Backup-Pass1", "data": data}).status_code
        == 200
    )
    app = fresh.call("GET", "/v1/settings/application").json()["settings"]["application"]
    assert app["wa_id"] == "16315550000"
    assert app["webhooks"]["url"] == "https://relay:8443/x"
    assert fresh.call("POST", "/v1/account", ACCOUNT).status_code == 201


def test_an_uploaded_certificate_is_served_after_a_restart_and_a_bad_one_stops_web(
    database: Database, prefix: str, spawn: Callable[..., Role], tmp_path: Path
) -> None:
    env = {**database.env(prefix), **HOOKS, "WA_API_KEY": API_KEY}
    role, web = start_web(spawn, env, tmp_path)
    good, other = make_pki(("127.0.0.1", "localhost")), make_pki()
    headers = {"Content-Type": "text/plain"}
    admin = Admin(web)
    assert (
        admin.call("POST", "/v1/certificates/external", data=good.bundle(), headers=headers).status_code
        == 200
    )
    assert role.stop() == 0

    port = free_port()
    role = spawn("web", env, "--port", str(port), "--data-dir", str(tmp_path))
    served = Web(port, tmp_path)
    served.ca = tmp_path / "uploaded-root.pem"  # the chain now ends at the operator's own root
    served.ca.write_text(good.root_pem)
    wait_until(lambda: served.call("GET", "/v1/certificates/external/ca").ok, what="the uploaded certificate")
    admin = Admin(served, NEW_PASSWORD, rotate=False)
    mismatched = other.leaf_key_pem + good.leaf_pem + good.intermediate_pem
    assert (
        admin.call("POST", "/v1/certificates/external", data=mismatched, headers=headers).status_code == 200
    )
    assert role.stop() == 0

    broken = spawn("web", env, "--port", str(free_port()), "--data-dir", str(tmp_path))
    assert broken.process.wait(timeout=30) == 6
    assert "does not match the certificate" in broken.output()
