"""Real processes for the Cloud API emulator's integration tests: the emulator's image under
`docker run --network host`, a real `onprem relay serve` with its Cloud ingress over TLS, and a sink."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import yaml

from onprem.emulator.testing import make_pki
from tests.integration.conftest import free_port
from tests.integration.relay.harness import SINK_SECRET

IMAGE = "onprem-emulator/cloudapi:0.1.0"
TOKEN = "EAAG-itest-system-user-token-0123456789"
APP_SECRET = "itest-app-secret-\u00e9-0123456789"
VERIFY_TOKEN = "itest-verify-token-42"
NUMBER_ID, WABA_ID = "106540352242922", "102290129340398"
CC, PHONE = "1", "6315550042"


def write_secret(path: Path, value: str) -> Path:
    path.write_text(value)
    path.chmod(0o600)
    return path


class Relay:
    """`onprem relay serve` on loopback with TLS (a test CA) and its Cloud ingress on."""

    def __init__(self, workdir: Path, sink_url: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        pki = make_pki(("127.0.0.1", "localhost"))
        self.ca_file = workdir / "ca.pem"
        self.ca_file.write_text(pki.root_pem)
        cert = write_secret(workdir / "tls.crt", pki.leaf_pem + pki.intermediate_pem)
        key = write_secret(workdir / "tls.key", pki.leaf_key_pem)
        config = {
            "listen": f"127.0.0.1:{self.port}",
            "tls": {"cert_file": str(cert), "key_file": str(key)},
            "onprem": {"enabled": False},
            "cloud": {
                "enabled": True,
                "app_secret_file": str(write_secret(workdir / "app_secret", APP_SECRET)),
                "verify_token_file": str(write_secret(workdir / "verify", VERIFY_TOKEN)),
            },
            "store": {"data_dir": str(workdir / "data")},
            "delivery": {
                "endpoints": [
                    {
                        "name": "sink",
                        "url": sink_url,
                        "secret_file": str(write_secret(workdir / "sink_secret", SINK_SECRET)),
                    }
                ],
                "poll_interval_seconds": 0.2,
            },
        }
        self.config = workdir / "relay.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.log = workdir / "relay.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def callback(self) -> str:
        return f"https://127.0.0.1:{self.port}/webhooks/cloud"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "onprem.cli", "relay", "serve", "--settings", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        wait_until(
            lambda: (
                requests.get(f"https://127.0.0.1:{self.port}/healthz", verify=str(self.ca_file), timeout=1).ok
            ),
            f"the relay did not start: {self.log}",
            alive=lambda: self.proc is not None and self.proc.poll() is None,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)
            self.proc = None


def wait_until(check: Any, what: str, timeout: float = 60, alive: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        assert alive is None or alive(), what
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


class EmulatorContainer:
    """The emulator's image run as Meta would be: on the host's network, listening on loopback."""

    def __init__(self, workdir: Path, ca_file: Path | None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        self.port = free_port()
        self.name = f"onprem-itest-cloudapi-{uuid.uuid4().hex[:10]}"
        write_secret(workdir / "token", TOKEN)
        write_secret(workdir / "app_secret", APP_SECRET)
        settings: dict[str, Any] = {
            "listen": f"127.0.0.1:{self.port}",
            "database": "/var/lib/onprem-cloudapi/cloudapi.sqlite3",
            "phone_numbers": [
                {
                    "id": NUMBER_ID,
                    "cc": CC,
                    "phone_number": PHONE,
                    "verified_name": "Itest",
                    "waba_id": WABA_ID,
                }
            ],
            "tokens": [{"file": "/cfg/token", "waba_ids": [WABA_ID]}],
            "app": {"secret_file": "/cfg/app_secret"},
            "register_delay_seconds": 0.5,
            "webhooks": {"first_retry_seconds": 0.5, "max_interval_seconds": 2},
        }
        if ca_file is not None:
            (workdir / "ca.pem").write_text(ca_file.read_text())
            settings["ca_file"] = "/cfg/ca.pem"
        (workdir / "cloudapi.yaml").write_text(yaml.safe_dump(settings))
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        subprocess.run(
            ["docker", "run", "-d", "--name", self.name, "--network", "host",
             "-v", f"{self.workdir}:/cfg:ro", IMAGE,
             "onprem", "emulator", "cloud", "--settings", "/cfg/cloudapi.yaml"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        wait_until(lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, self.logs, alive=self.running)

    def running(self) -> bool:
        done = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() == "true"

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False)
        return (done.stdout + done.stderr)[-3000:]

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", "-v", self.name], capture_output=True, check=False)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        answer = requests.request(
            method, f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        return answer.status_code, answer.json()

    def state(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(requests.get(f"{self.url}/__emulator/state", timeout=10).text)
        return document
