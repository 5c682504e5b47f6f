"""Getting a certificate from an ACME CA (RFC 8555) with certbot's `acme` library, HTTP-01 on the relay.

The library does the protocol (JWS, nonces, polling); this module keeps the account key and the issued
certificate in the relay's state directory (mode 0600, written atomically) and hands challenge answers
to the HTTP-01 listener through `ChallengeTokens`. Everything here blocks (the library uses requests):
the renewer runs `AcmeIssuer.issue` in a worker thread.
"""

from __future__ import annotations

import datetime
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.errors import Error as JoseError
from josepy.jwa import RS256
from josepy.jwk import JWKRSA

from onprem.relay.settings import AcmeCertificateSettings

ACCOUNT_KEY = "account-key.pem"
ACCOUNT_URI = "account-uri"
CHAIN = "fullchain.pem"
KEY = "privkey.pem"
USER_AGENT = "onprem-relay"
ORDER_SECONDS = 120.0  # how long one order may take, challenges and finalization included


class AcmeError(Exception):
    """Issuance failed: the CA refused, a challenge failed, or the CA could not be reached."""


class ChallengeTokens:
    """HTTP-01 answers the relay serves while an order is pending: token -> key authorization."""

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()  # written from the issuing thread, read on the event loop

    def put(self, token: str, key_authorization: str) -> None:
        with self._lock:
            self._answers[token] = key_authorization

    def drop(self, token: str) -> None:
        with self._lock:
            self._answers.pop(token, None)

    def answer(self, token: str) -> str | None:
        """The key authorization for `token`, or None when no order is waiting on it."""
        with self._lock:
            return self._answers.get(token)


@dataclass(frozen=True)
class CertificateFiles:
    """Where the issued chain and its key are kept."""

    chain: Path
    key: Path

    @classmethod
    def under(cls, state_dir: str) -> CertificateFiles:
        return cls(Path(state_dir) / CHAIN, Path(state_dir) / KEY)

    def exist(self) -> bool:
        return self.chain.is_file() and self.key.is_file()


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, rename), mode 0600. Raises OSError."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older temp file may have kept a wider mode
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a crash
    finally:
        os.close(dir_fd)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class AcmeIssuer:
    """Issues certificates for one host name from one ACME directory; blocking, one order at a time."""

    def __init__(
        self,
        settings: AcmeCertificateSettings,
        host_name: str,
        tokens: ChallengeTokens,
        *,
        order_seconds: float = ORDER_SECONDS,
    ) -> None:
        self._settings = settings
        self._host_name = host_name
        self._tokens = tokens
        self._order_seconds = order_seconds
        self._state = Path(settings.state_dir)
        self.files = CertificateFiles.under(settings.state_dir)

    def issue(self) -> CertificateFiles:
        """Order a certificate for the host name, answer its HTTP-01 challenge, store chain and key (new
        key each time). Raises AcmeError (with the CA's reason) or OSError (state directory)."""
        account_key = self._account_key()
        # requests' `verify` takes a CA bundle path as well as a bool; the library passes it through.
        verify = cast(bool, self._settings.ca_file or True)
        net = client.ClientNetwork(account_key, alg=RS256, verify_ssl=verify, user_agent=USER_AGENT)
        try:
            acme = client.ClientV2(client.ClientV2.get_directory(self._settings.directory_url, net), net)
            self._account(acme)
            key = ec.generate_private_key(ec.SECP256R1())
            csr = crypto_util.make_csr(_pem(key), [self._host_name])
            order = acme.new_order(csr)
            answered = self._answer(acme, order, account_key)
            try:
                deadline = datetime.datetime.now() + datetime.timedelta(seconds=self._order_seconds)
                order = acme.poll_and_finalize(order, deadline)
            finally:
                for token in answered:
                    self._tokens.drop(token)
        except (errors.Error, messages.Error, OSError, ValueError, JoseError) as exc:
            raise AcmeError(_describe(exc)) from None
        if not order.fullchain_pem:
            raise AcmeError("the CA finalized the order without a certificate")
        # The key first: a chain on disk without its key would not load at the next start.
        write_private(self.files.key, _pem(key))
        write_private(self.files.chain, order.fullchain_pem.encode("ascii"))
        return self.files

    def _account_key(self) -> JWKRSA:
        path = self._state / ACCOUNT_KEY
        if path.is_file():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise AcmeError(f"{path} is not an RSA key; move it away to create a new account")
            return JWKRSA(key=loaded)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(path, _pem(key))
        return JWKRSA(key=key)

    def _account(self, acme: client.ClientV2) -> None:
        """Register the account key, or find the account it already has (the CA answers 200 + Location)."""
        contact = self._settings.email
        registration = messages.NewRegistration.from_data(email=contact, terms_of_service_agreed=True)
        try:
            regr = acme.new_account(registration)
        except errors.ConflictError as exc:
            existing = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
            regr = acme.query_registration(existing)
        write_private(self._state / ACCOUNT_URI, (regr.uri or "").encode("utf-8"))

    def _answer(self, acme: client.ClientV2, order: messages.OrderResource, account_key: JWKRSA) -> list[str]:
        """Publish and answer the HTTP-01 challenge of every pending authorization; the tokens used."""
        tokens = []
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the CA reused an earlier authorization
            http01 = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
            if not http01:
                raise AcmeError(f"the CA offers no http-01 challenge for {self._host_name}")
            challenge = http01[0]
            response, validation = challenge.response_and_validation(account_key)
            token = challenge.chall.encode("token")
            self._tokens.put(token, validation)
            tokens.append(token)
            acme.answer_challenge(challenge, response)
        return tokens


def _describe(exc: BaseException) -> str:
    if isinstance(exc, errors.ValidationError):
        problems = [
            f"{authz.body.identifier.value}: {challenge.error}"
            for authz in exc.failed_authzrs
            for challenge in authz.body.challenges
            if challenge.error is not None
        ]
        return "challenge failed: " + ("; ".join(problems) or "no detail from the CA")
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
