"""Test doubles for the emulator, shipped so other packages' tests can run it in-process.

`FakeClock` drives token expiry, heartbeat ages and callback backoff; `sqlite_store` opens a ready
store on a file; `core_heartbeat` and `register` set state directly (a running core process, a
registered number) where a test does not want to go through the API; `assign_shard` and `hold_lease`
put a shard-map row or the master lease in place as a primary master would; `make_pki` issues a root ->
intermediate -> leaf chain for certificate uploads and HTTPS webhook sinks. Verified-name
certificates for `POST /v1/account` come from `onprem.emulator.vname.encode_cert`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey as EcKey

from onprem.emulator.dbconnect import Dialect, open_sqlite
from onprem.emulator.ha import LEASE_NAME
from onprem.emulator.passwords import hash_password
from onprem.emulator.schema import prepare
from onprem.emulator.store import Registration, Store
from onprem.emulator.versions import NEWEST_VERSION, ClientVersion

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: a fixed, readable origin for fake time


@dataclass
class FakeClock:
    """A settable epoch-seconds clock: call it for the time, `advance` to move it."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sqlite_store(
    path: Path,
    *,
    now: float = START,
    admin_password: str = "secret",  # noqa: S107
    version: str = NEWEST_VERSION,
    upgrade: bool = False,
) -> Store:
    """A store on SQLite file `path` as a client of `version` opens it: created at that version's
    schema with the default admin (must change password), or checked (with `upgrade`, migrated).

    Raises SchemaMismatch when the file's schema does not fit `version`.
    """
    client = ClientVersion.parse(version)
    store = Store(lambda: open_sqlite(path), Dialect("SQLITE"), schema=client.schema)
    try:
        prepare(store, client, upgrade=upgrade, admin_password_hash=hash_password(admin_password), now=now)
    except BaseException:
        store.close()
        raise
    return store


def core_heartbeat(store: Store, hostname: str, *, now: float, kind: str = "coreapp", cid: str = "") -> str:
    """Record a heartbeat for a core node as a running `onprem emulator core` would; returns its id."""
    node_id = f"{hostname}:{cid or '0123456789ab'}"
    store.heartbeat(node_id, hostname, kind, started_at=now, now=now)
    return node_id


def assign_shard(store: Store, shard_id: int, node_id: str, *, now: float, confirmed: bool = True) -> None:
    """Give `shard_id` to `node_id` in the shard map, confirmed by its owner at `now` (or not yet)."""
    columns = ("shard_id", "node_id", "epoch", "assigned_at", "renewed_at", "previous_renewed_at")
    values = (shard_id, node_id, 1, now, now if confirmed else 0.0, 0.0)
    sql = store.dialect.upsert("shard_map", columns, "shard_id")
    store.execute(lambda cur: cur.execute(sql, values))


def hold_lease(store: Store, node_id: str, *, now: float, ttl: float = 30.0) -> None:
    """Make `node_id` the holder of the master lease (the primary master) until `now + ttl`."""
    columns = ("name", "holder", "epoch", "acquired_at", "expires_at")
    sql = store.dialect.upsert("master_lease", columns, "name")
    store.execute(lambda cur: cur.execute(sql, (LEASE_NAME, node_id, 1, now, now + ttl)))


def register(
    store: Store, *, state: str = "registered", cc: str = "1", phone_number: str = "6315550000"
) -> None:
    """Set the number's registration state directly, without the request-code/verify round trip."""
    store.set_registration(Registration(state=state, cc=cc, phone_number=phone_number))


@dataclass(frozen=True)
class TestPki:
    """A root CA, an intermediate it signs and a leaf server certificate: PEM texts for tests."""

    root_pem: str
    intermediate_pem: str
    leaf_pem: str
    leaf_key_pem: str
    intermediate_key_pem: str

    def bundle(self) -> str:
        """The `POST /v1/certificates/external` body: key, certificate, intermediate."""
        return self.leaf_key_pem + self.leaf_pem + self.intermediate_pem


def make_pki(names: tuple[str, ...] = ("localhost", "127.0.0.1"), *, leaf_days: float = 30.0) -> TestPki:
    """Issue a fresh root -> intermediate -> leaf chain for `names` (negative `leaf_days`: expired)."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def issue(
        subject: str, key: EcKey, issuer: x509.Name | None, signer: EcKey,
        *, ca: bool, days: float, sans: tuple[str, ...] = (),
    ) -> x509.Certificate:  # fmt: skip
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        start, end = (now - timedelta(days=2), now + timedelta(days=days))
        if days < 0:
            start, end = now - timedelta(days=10), now + timedelta(days=days)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            general: list[x509.GeneralName] = []
            for san in sans:
                try:
                    general.append(x509.IPAddress(ipaddress.ip_address(san)))
                except ValueError:
                    general.append(x509.DNSName(san))
            builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
        raw = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return raw.decode("ascii")

    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = issue("Test Root CA", root_key, None, root_key, ca=True, days=365)
    mid = issue("Test Intermediate CA", mid_key, root.subject, root_key, ca=True, days=365)
    leaf = issue(names[0], leaf_key, mid.subject, mid_key, ca=False, days=leaf_days, sans=names)
    return TestPki(pem(root), pem(mid), pem(leaf), key_pem(leaf_key), key_pem(mid_key))
