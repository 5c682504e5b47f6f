"""`certs upload` refuses a leaf whose SANs miss a name in use before anything is uploaded; after an
upload the exporter trusts the chain's root; when web does not come back healthy, the previous
certificate and trust are put back automatically and the error says so."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from onprem import pki
from onprem.config import load_settings
from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError, GateError
from onprem.workflows import certs, webcert
from tests.unit.fakes import NOW
from tests.unit.workflows.stack_fake import FakeClientApi, StackEngine, stack_deployment

UPLOADED = f"{webcert.EXTERNAL_DIR}/{webcert.UPLOADED_FILE}"
TRUST = "/usr/local/waent/data/onprem/trusted.pem"


def leaf(inter: pki.Issued, names: list[x509.GeneralName]) -> pki.Issued:
    """A server certificate for exactly `names`, issued by `inter`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "leaf")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(inter.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(inter.key, hashes.SHA256())
    )
    return pki.Issued(key, cert)


def stack(tmp_path: Path, text: str = "") -> tuple[Deployment, StackEngine, FakeClientApi]:
    api = FakeClientApi(admin_password="Adm1n#pass")
    engine = StackEngine(tmp_path / ".onprem" / "p" / "secrets")
    deployment = stack_deployment(
        tmp_path, "deployment:\n  name: p\n  timeout_seconds: 10\n" + text, api, engine
    )
    deployment.secrets.resolve(deployment.loaded)
    deployment.secrets.write("WA_ADMIN_PASSWORD", api.admin_password)
    engine.start()
    deployment.pin_ca()
    certs.issue_for(deployment)
    api.on_upload = lambda pem: engine.files.__setitem__(UPLOADED, pem.encode())
    return deployment, engine, api


def bundle_file(tmp_path: Path, issued: pki.Issued, inter: pki.Issued) -> Path:
    path = tmp_path / "chain.pem"
    path.write_text(issued.key_pem + issued.cert_pem + inter.cert_pem)
    return path


def intermediate(deployment: Deployment) -> pki.Issued:
    found = certs.load_pair(deployment.state.certs, "intermediate")
    assert found is not None
    return found


def test_a_leaf_whose_sans_miss_the_names_in_use_is_refused_before_anything_is_uploaded(
    tmp_path: Path,
) -> None:
    deployment, engine, api = stack(tmp_path)
    inter = intermediate(deployment)
    chain = bundle_file(tmp_path, leaf(inter, [x509.DNSName("example.com")]), inter)
    pinned = deployment.state.ca_file.read_bytes()
    engine.calls.clear()

    with pytest.raises(ConfigError) as caught:
        certs.upload_chain(deployment, chain, None)

    message = str(caught.value)
    assert "SANs (example.com) do not cover localhost (used by client.web_servername)" in message
    assert "127.0.0.1 (used by onprem, at the published web port" in message
    assert "waweb (used by the exporter" in message
    assert "nothing was uploaded" in message
    assert "`onprem certs issue`" in message
    assert api.uploads == []
    assert engine.calls == []
    assert deployment.state.certs.read("trusted.pem") is None
    assert deployment.state.ca_file.read_bytes() == pinned


def test_an_ip_address_only_counts_as_an_ip_san_and_wildcards_cover_one_label() -> None:
    inter = pki.issue_ca("t", NOW)[1]
    as_dns = leaf(inter, [x509.DNSName("127.0.0.1"), x509.DNSName("*.example.com")]).cert
    as_ip = leaf(inter, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]).cert
    assert not pki.covers(as_dns, "127.0.0.1")
    assert pki.covers(as_ip, "127.0.0.1")
    assert pki.covers(as_dns, "api.example.com")
    assert not pki.covers(as_dns, "a.b.example.com")
    assert not pki.covers(as_dns, "example.com")


def test_the_names_in_use_add_the_tunnel_loopback_for_a_remote_host_and_drop_the_exporter_when_off(
    tmp_path: Path,
) -> None:
    path = tmp_path / "onprem.yaml"
    path.write_text(
        "client:\n  web_servername: api.example\nnetwork:\n  bind_address: 10.0.0.5\nexporter:\n  enabled: false\n"
    )
    settings = load_settings(path, environ={}, cwd=tmp_path).settings
    assert [n for n, _ in certs.names_in_use(settings, remote=True)] == [
        "api.example",
        "10.0.0.5",
        "127.0.0.1",
    ]
    assert [n for n, _ in certs.names_in_use(settings, remote=False)] == ["api.example", "10.0.0.5"]


def test_a_good_upload_makes_the_exporter_trust_its_root_through_the_web_container(tmp_path: Path) -> None:
    deployment, engine, api = stack(tmp_path)
    chain = deployment.state.certs.path("web-bundle.pem")

    done = certs.upload_chain(deployment, chain, None)

    root = deployment.state.certs.read("root.pem")
    assert (done["status"], done["exporter"]) == ("uploaded", "trusts the uploaded root")
    assert api.uploads == [chain.read_text()]
    assert engine.files[TRUST].decode() == root
    assert ("compose", "restart", "waweb") in engine.calls
    assert not deployment.state.certs.path(webcert.PREVIOUS_COPY).exists()
    assert certs.upload_chain(deployment, chain, None)["status"] == "already uploaded"


def test_a_chain_that_keeps_web_down_is_reverted_to_the_self_signed_certificate_and_says_so(
    tmp_path: Path,
) -> None:
    deployment, engine, _api = stack(tmp_path)
    pinned = deployment.state.ca_file.read_bytes()
    engine.healthy = lambda e: UPLOADED not in e.files

    with pytest.raises(GateError) as caught:
        certs.upload_chain(deployment, deployment.state.certs.path("web-bundle.pem"), None)

    assert "the upload was reverted: web serves its own self-signed certificate again" in str(caught.value)
    assert caught.value.service == "waweb"
    assert "refused to start" in caught.value.logs
    compose = [c[1:] for c in engine.calls if c[0] == "compose"]
    assert compose[1:3] == [("stop", "waweb"), (*webcert.ONE_OFF_RM, "waweb", "-f", UPLOADED)]
    assert compose[3] == ("start", "waweb")
    assert UPLOADED not in engine.files
    assert engine.files[TRUST] == b""
    assert deployment.state.certs.read("trusted.pem") is None
    assert deployment.state.certs.read(webcert.DIGEST_FILE) is None
    assert deployment.state.ca_file.read_bytes() == pinned


def test_a_chain_that_keeps_web_down_puts_the_previous_upload_back_0600(tmp_path: Path) -> None:
    deployment, engine, _api = stack(tmp_path)
    good = deployment.state.certs.path("web-bundle.pem")
    certs.upload_chain(deployment, good, None)
    inter = intermediate(deployment)
    names = [x509.DNSName(n) for n in ("localhost", "waweb")] + [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    ]
    other = bundle_file(tmp_path, leaf(inter, names), inter)
    engine.healthy = lambda e: e.files.get(UPLOADED) == good.read_bytes()

    with pytest.raises(
        GateError, match="the upload was reverted: web serves the previous uploaded certificate"
    ):
        certs.upload_chain(deployment, other, None)

    assert engine.files[UPLOADED] == good.read_bytes()
    assert engine.files[UPLOADED + "#mode"] == b"0o600"
    assert certs.upload_chain(deployment, good, None)["status"] == "already uploaded"


def test_a_bundle_the_client_refuses_changes_nothing(tmp_path: Path) -> None:
    deployment, engine, api = stack(tmp_path)
    api.refuse_upload = True
    pinned = deployment.state.ca_file.read_bytes()

    with pytest.raises(ApiError):
        certs.upload_chain(deployment, deployment.state.certs.path("web-bundle.pem"), None)

    assert not [c for c in engine.calls if c[0] == "compose"]
    assert deployment.state.certs.read("trusted.pem") is None
    assert deployment.state.ca_file.read_bytes() == pinned
    assert engine.files[TRUST] == b""
