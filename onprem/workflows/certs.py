"""`certs issue`, `certs upload` and `certs status`: the internal CA, the web endpoint's chain, expiry.

Files live in `<state>/certs/` (0700; keys 0600). The relay's certificate and key are also written as
its secret files RELAY_TLS_CERT and RELAY_TLS_KEY, which compose mounts when `relay.tls` is set.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509

from onprem import pki
from onprem.chain import check_bundle, check_names
from onprem.config import Settings
from onprem.deployment import TRUSTED_FILE, Deployment, published_web
from onprem.errors import ConfigError, OnpremError, StateError
from onprem.state import CertFiles
from onprem.topology import relay_address
from onprem.workflows import webcert
from onprem.workflows.gate import restart

RENEW_BEFORE = timedelta(days=30)
RELAY_CERT_SECRET = "RELAY_TLS_CERT"  # noqa: S105 - a file name, not a value
RELAY_KEY_SECRET = "RELAY_TLS_KEY"  # noqa: S105 - a file name, not a value


class SecretFiles(Protocol):
    def read(self, name: str) -> str | None: ...

    def write(self, name: str, value: str) -> None: ...


class CertApi(Protocol):
    def upload_external_certificate(self, bundle_pem: str) -> None: ...


def load_pair(files: CertFiles, name: str) -> pki.Issued | None:
    cert, key = files.read(f"{name}.pem"), files.read(f"{name}.key")
    if cert is None or key is None:
        return None
    try:
        return pki.Issued(pki.load_key(key), pki.load_certs(cert)[0])
    except (ValueError, IndexError):
        return None  # unreadable: issue again


def store_pair(files: CertFiles, name: str, issued: pki.Issued, chain: list[x509.Certificate]) -> None:
    files.write(f"{name}.key", issued.key_pem, private=True)
    files.write(f"{name}.pem", issued.cert_pem + "".join(pki.cert_pem(c) for c in chain))


def _fresh(issued: pki.Issued | None, now: datetime) -> bool:
    return issued is not None and pki.valid_at(issued.cert, now, RENEW_BEFORE)


def _ca(files: CertFiles, name: str, now: datetime) -> tuple[pki.Issued, pki.Issued, bool]:
    root, inter = load_pair(files, "root"), load_pair(files, "intermediate")
    if (
        root is not None
        and inter is not None
        and _fresh(root, now)
        and _fresh(inter, now)
        and pki.signed_by(inter.cert, root.cert)
    ):
        return root, inter, False
    root, inter = pki.issue_ca(name, now)
    store_pair(files, "root", root, [])
    store_pair(files, "intermediate", inter, [])
    return root, inter, True


def _server(
    files: CertFiles, name: str, inter: pki.Issued, sans: list[str], now: datetime, renewed_ca: bool
) -> tuple[pki.Issued, bool]:
    current = load_pair(files, name)
    if (
        current is not None
        and not renewed_ca
        and _fresh(current, now)
        and sorted(pki.sans_of(current.cert)) == sorted(sans)
        and pki.signed_by(current.cert, inter.cert)
    ):
        return current, False
    issued = pki.issue_server(inter, sans, now)
    store_pair(files, name, issued, [inter.cert])
    files.write(f"{name}-bundle.pem", issued.key_pem + issued.cert_pem + inter.cert_pem, private=True)
    return issued, True


def issue(
    files: CertFiles,
    secrets: SecretFiles,
    *,
    name: str,
    web_sans: list[str],
    relay_sans: list[str],
    now: datetime,
) -> dict[str, str]:
    """Issue (or keep, when valid for 30 more days with the same SANs) the CA and server certificates.

    Returns what happened to each: "issued" or "kept"; `relay secrets`: "updated" or "unchanged".
    Raises StateError when the files cannot be written.
    """
    _, inter, renewed = _ca(files, name, now)
    web, web_new = _server(files, "web", inter, web_sans, now, renewed)
    relay, relay_new = _server(files, "relay", inter, relay_sans, now, renewed)
    del web
    outcome = {
        "ca": "issued" if renewed else "kept",
        "web": "issued" if web_new else "kept",
        "relay": "issued" if relay_new else "kept",
    }
    chain = relay.cert_pem + inter.cert_pem
    changed = secrets.read(RELAY_CERT_SECRET) != chain or secrets.read(RELAY_KEY_SECRET) != relay.key_pem
    if changed:
        secrets.write(RELAY_CERT_SECRET, chain)
        secrets.write(RELAY_KEY_SECRET, relay.key_pem)
    outcome["relay secrets"] = "updated" if changed else "unchanged"
    return outcome


def web_sans(settings: Settings) -> list[str]:
    """Names the web endpoint's certificate covers: the server name, the service, this host (pure)."""
    network = settings.network
    names = [settings.client.web_servername, "waweb", "localhost", "127.0.0.1"]
    if not ipaddress.ip_address(network.bind_address).is_unspecified:
        names.append(network.bind_address)
    return list(dict.fromkeys(names))


def relay_sans(settings: Settings) -> list[str]:
    """Names the relay's certificate covers: its service name inside the stack, this host, and the
    address the Coreapps of other hosts reach it at."""
    names = ["relay", "localhost", "127.0.0.1", relay_address(settings)[0]]
    return list(dict.fromkeys(names))


def issue_for(deployment: Deployment) -> dict[str, str]:
    """`issue` for a deployment's state directory and settings (idempotent). Called before the secrets
    are resolved, it lets a first deploy start the relay with its certificate. Raises StateError."""
    return issue(
        deployment.state.certs,
        deployment.secrets,
        name=deployment.project,
        web_sans=web_sans(deployment.settings),
        relay_sans=relay_sans(deployment.settings),
        now=deployment.now(),
    )


def roots_for(ca_file: Path | None, files: CertFiles) -> list[x509.Certificate]:
    """The CA an uploaded chain must lead to: `--ca FILE`, else onprem's internal root if issued."""
    text = None
    if ca_file is not None:
        try:
            text = ca_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{ca_file}: cannot read the CA certificate ({exc})") from None
    else:
        text = files.read("root.pem")
    try:
        return pki.load_certs(text) if text else []
    except ValueError:
        raise ConfigError(f"{ca_file}: is not a PEM certificate") from None


def names_in_use(settings: Settings, *, remote: bool) -> list[tuple[str, str]]:
    """The names an uploaded web certificate must cover, each with who reaches the endpoint by it (pure):
    the server name, the address onprem reaches the published port at (an SSH tunnel's loopback for a
    remote host), and the exporter's name for the web service."""
    host, _port = published_web(settings)
    needed = [
        (settings.client.web_servername, "client.web_servername"),
        (host, "onprem, at the published web port (network.bind_address)"),
    ]
    if remote:
        needed.append(("127.0.0.1", "onprem, through its SSH tunnel to the host"))
    exporter = settings.exporter
    if exporter.enabled:
        name = exporter.tls_server_name or urlsplit(exporter.upstream_url).hostname or ""
        needed.append((name, "the exporter (exporter.upstream_url / tls_server_name)"))
    unique: dict[str, str] = {}
    for name, who in needed:
        unique.setdefault(name, who)
    return list(unique.items())


@dataclass(frozen=True)
class CheckedUpload:
    """A bundle that passed every check before upload, with the roots to trust and its digest."""

    text: str
    trusted: list[x509.Certificate]
    digest: str
    info: dict[str, Any]


def check_upload(
    bundle_text: str,
    *,
    origin: str,
    roots: list[x509.Certificate],
    now: datetime,
    needed: Sequence[tuple[str, str]] = (),
) -> CheckedUpload:
    """Every check of a bundle before it is uploaded: order, key, dates, chain, the root to trust, and
    the names in use (pure). Raises ConfigError naming each problem and its fix."""
    checked = check_bundle(bundle_text, now=now, roots=roots, origin=origin)
    check_names(checked.server, needed, origin)
    top = checked.chain[-1]
    trusted = roots or ([top] if pki.signed_by(top, top) else [])
    if not trusted:
        raise ConfigError(
            f"{origin}: the chain does not end with a root; give the root CA with --ca FILE so onprem can "
            "keep verifying the web endpoint after the upload"
        )
    digest = hashlib.sha256(checked.text.encode()).hexdigest()
    info = {"server": pki.describe(checked.server, now), "sha256": digest}
    return CheckedUpload(checked.text, trusted, digest, info)


def upload(
    api: CertApi,
    *,
    bundle_text: str,
    origin: str,
    roots: list[x509.Certificate],
    now: datetime,
    files: CertFiles,
    pinned_ca: Path,
    restart_web: Callable[[], object],
    needed: Sequence[tuple[str, str]] = (),
    trust: Callable[[str], object] = lambda _pem: None,
) -> dict[str, Any]:
    """Check the bundle, trust its root (for the API, and through `trust` for the exporter), upload it,
    restart the web containers.

    Skipped ("already uploaded") when this exact bundle was the last one uploaded. Raises ConfigError
    (nothing uploaded) for any problem of the bundle, ApiError when the client refuses it.
    """
    checked = check_upload(bundle_text, origin=origin, roots=roots, now=now, needed=needed)
    if files.read(webcert.DIGEST_FILE) == checked.digest + "\n":
        return {"status": "already uploaded", **checked.info}
    _pin(pinned_ca, checked.trusted)
    # Kept apart too: a later deploy re-pins the client's own CA and must keep trusting this root.
    roots_pem = "".join(pki.cert_pem(r) for r in checked.trusted)
    files.write(TRUSTED_FILE, roots_pem)
    trust(roots_pem)
    api.upload_external_certificate(checked.text)
    files.write(webcert.DIGEST_FILE, checked.digest + "\n")
    restart_web()
    return {"status": "uploaded", **checked.info}


def _pin(pinned_ca: Path, roots: list[x509.Certificate]) -> None:
    # Keep the client's own CA too: until the web container restarts it still serves its old certificate.
    current = pinned_ca.read_text(encoding="ascii") if pinned_ca.is_file() else ""
    added = "".join(pki.cert_pem(r) for r in roots if pki.cert_pem(r) not in current)
    if added:
        try:
            pinned_ca.write_text(current + ("" if not current or current.endswith("\n") else "\n") + added)
        except OSError as exc:
            raise StateError(f"cannot write {pinned_ca}: {exc.strerror}") from None


def status(
    endpoints: dict[str, tuple[str, int]],
    files: CertFiles,
    *,
    now: datetime,
    fetch: Callable[[str, int], str | None],
) -> list[dict[str, Any]]:
    """Expiry of the certificate each endpoint serves, and of the internal CA's files."""
    rows: list[dict[str, Any]] = []
    for name, (host, port) in endpoints.items():
        pem = fetch(host, port)
        row: dict[str, Any] = {"endpoint": name, "address": f"{host}:{port}"}
        if pem is None:
            row["error"] = "no TLS answer"
        else:
            row.update(pki.describe(pki.load_certs(pem)[0], now))
        rows.append(row)
    for name in ("root", "intermediate", "web", "relay"):
        text = files.read(f"{name}.pem")
        if text:
            rows.append({"endpoint": f"file {name}.pem", **pki.describe(pki.load_certs(text)[0], now)})
    return rows


def issue_and_apply(deployment: Deployment) -> dict[str, str]:
    """`onprem certs issue`: issue what is missing or due, and restart a running TLS relay whose
    certificate changed. Raises StateError, EngineError or GateError."""
    done = issue_for(deployment)
    relay = deployment.settings.relay
    if done["relay secrets"] == "updated" and relay.enabled and relay.tls is not None:
        running = [
            c
            for c in deployment.engine.containers(deployment.project)
            if c.service == "relay" and c.state == "running"
        ]
        if running:
            restart(deployment, ["relay"])
            done["relay"] += ", restarted"
    return done


def upload_chain(deployment: Deployment, chain_file: Path, ca_file: Path | None) -> dict[str, Any]:
    """`onprem certs upload`: check the PEM bundle in `chain_file` completely (names in use included),
    upload it, trust its root (onprem and the exporter), restart and gate `waweb`; when web does not come
    back healthy, put the previous certificate and trust back and gate again.

    Raises ConfigError (nothing uploaded), ApiError (the client refused it: nothing changed), GateError
    (web did not come back with it: reverted, or saying what is left to do)."""
    try:
        text = chain_file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{chain_file}: cannot read the PEM bundle ({exc})") from None
    settings = deployment.settings
    remote = settings.hosts[0].address != "local"
    origin, roots, now = str(chain_file), roots_for(ca_file, deployment.state.certs), deployment.now()
    needed = names_in_use(settings, remote=remote)
    checked = check_upload(text, origin=origin, roots=roots, now=now, needed=needed)
    files = deployment.state.certs
    if files.read(webcert.DIGEST_FILE) == checked.digest + "\n":
        return {"status": "already uploaded", **checked.info}
    api = deployment.api()
    previous = webcert.take(deployment)
    webcert.keep_copy(deployment, previous)
    try:
        done = upload(
            api,
            bundle_text=text,
            origin=origin,
            roots=roots,
            now=now,
            files=files,
            pinned_ca=deployment.state.ca_file,
            restart_web=lambda: webcert.restart_web(deployment),
            needed=needed,
            trust=lambda pem: webcert.trust_exporter(deployment, pem),
        )
    except OnpremError as exc:
        if files.read(webcert.DIGEST_FILE) != checked.digest + "\n":
            webcert.restore_state(deployment, previous)  # the client did not take it: nothing to revert
            webcert.drop_copy(deployment)
            raise
        failure, reverted = webcert.revert(deployment, previous, exc)
        if reverted:
            webcert.drop_copy(deployment)
        raise failure from exc
    webcert.drop_copy(deployment)
    if webcert.exporter_trust_path(deployment) is not None:
        done["exporter"] = "trusts the uploaded root"
    return done


def endpoint_status(
    deployment: Deployment, fetch: Callable[[str, int], str | None] | None = None
) -> list[dict[str, Any]]:
    """`onprem certs status`: expiry of what each published TLS endpoint serves, and of the files.

    `fetch(host, port)` reads a served certificate (default: a TLS handshake that trusts nothing)."""
    settings = deployment.settings
    host, web_port = published_web(settings)
    endpoints = {"web": (host, web_port)}
    if settings.relay.enabled and settings.relay.tls is not None:
        endpoints["relay"] = (host, settings.network.relay_port)
    read = fetch or served_certificate

    def through_engine(address: str, port: int) -> str | None:
        # A tunnel when the ports are published on a remote host.
        with deployment.engine.endpoint(address, port) as (reach_host, reach_port):
            return read(reach_host, reach_port)

    return status(endpoints, deployment.state.certs, now=deployment.now(), fetch=through_engine)


def served_certificate(host: str, port: int) -> str | None:
    """The PEM certificate served at host:port, None when nothing answers TLS there."""
    # Reads the served certificate to report its dates; nothing is trusted or sent over this connection.
    try:
        return ssl.get_server_certificate((host, port), timeout=5)
    except OSError:
        return None
