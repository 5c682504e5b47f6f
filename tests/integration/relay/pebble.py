"""Debian's `pebble` (Let's Encrypt's RFC 8555 test CA) on loopback, with `pebble-challtestsrv` as its DNS.

pebble validates HTTP-01 by resolving the order's name and fetching
http://<name>:<httpPort>/.well-known/acme-challenge/<token>. The name resolves through the challenge
test server's DNS, which answers every A query with 127.0.0.1 (and no AAAA), so any name reaches the
relay's HTTP listener on loopback without touching /etc/hosts. pebble's own HTTPS certificate comes
from onprem.pki (the package ships none); its issuing root is regenerated per run and fetched from the
management endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from onprem.pki import issue_ca, issue_server
from tests.integration.conftest import free_ports


def available() -> bool:
    """Both binaries of the Debian package are on PATH."""
    return shutil.which("pebble") is not None and shutil.which("pebble-challtestsrv") is not None


class Pebble:
    """pebble + its DNS on free loopback ports; `http01_port` is where it fetches challenge answers."""

    def __init__(self, workdir: Path, http01_port: int, validity_seconds: int) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.acme_port, self.management_port, self.dns_port, self.tls_port, self.dns_admin = free_ports(5)
        self.http01_port = http01_port
        now = datetime.now(UTC)
        root, intermediate = issue_ca("pebble-itest", now)
        server = issue_server(intermediate, ["127.0.0.1", "localhost"], now, days=2)
        self.ca_file = workdir / "pebble-https-ca.pem"
        self.ca_file.write_text(root.cert_pem)
        (workdir / "pebble-cert.pem").write_text(server.cert_pem + intermediate.cert_pem)
        key = workdir / "pebble-key.pem"
        key.write_text(server.key_pem)
        key.chmod(0o600)
        self.config = workdir / "pebble-config.json"
        self.config.write_text(
            json.dumps(
                {
                    "pebble": {
                        "listenAddress": f"127.0.0.1:{self.acme_port}",
                        "managementListenAddress": f"127.0.0.1:{self.management_port}",
                        "certificate": str(workdir / "pebble-cert.pem"),
                        "privateKey": str(key),
                        "httpPort": http01_port,
                        "tlsPort": self.tls_port,
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": False,
                        # Honoured by pebble 2.4.0 (it logs "Using certificate validity period of N seconds").
                        "certificateValidityPeriod": validity_seconds,
                    }
                }
            )
        )
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    def start(self) -> None:
        dns = f"127.0.0.1:{self.dns_port}"
        self._spawn(
            "challtestsrv",
            [
                "pebble-challtestsrv",
                "-dns01",
                dns,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"127.0.0.1:{self.dns_admin}",
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ],
            {},
        )
        env = {
            "PEBBLE_VA_NOSLEEP": "1",  # no random 0-15 s sleeps before validating
            "PEBBLE_VA_ALWAYS_VALID": "0",  # really fetch the HTTP-01 answer from the relay
            "PEBBLE_WFE_NONCEREJECT": "0",  # no artificial badNonce (the library retries one, not two)
            "PEBBLE_AUTHZREUSE": "0",  # every order, renewals included, goes through a fresh challenge
        }
        self._spawn("pebble", ["pebble", "-config", str(self.config), "-dnsserver", dns], env)
        deadline = time.monotonic() + 20
        while True:
            try:
                self._get(self.directory_url)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("pebble did not answer:\n" + self.logs()) from None
                time.sleep(0.2)

    def root_pem(self) -> str:
        """The root that signs what pebble issues (regenerated each run), from its management endpoint."""
        return self._get(f"https://127.0.0.1:{self.management_port}/roots/0").decode("ascii")

    def logs(self) -> str:
        return "".join(
            f"--- {name}\n{(self.workdir / name).read_text(errors='replace')[-4000:]}"
            for name in ("pebble.log", "challtestsrv.log")
            if (self.workdir / name).exists()
        )

    def stop(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._procs = []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self._procs.append(
            subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        )

    def _get(self, url: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:
            return bytes(answer.read())
