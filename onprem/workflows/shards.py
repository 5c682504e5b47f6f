"""The account's shard count (multiconnect): `onprem shards set N`, and the bootstrap step that applies
`client.shards`. `POST /v1/account/shards` needs the number, its verified-name certificate and, with
two-step verification on, the PIN; it is sent only when the count differs, so both are idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from onprem.config import VALID_SHARDS
from onprem.deployment import Deployment
from onprem.errors import ApiError, ConfigError, StateError
from onprem.workflows.registration import PendingStore, is_registered, read_cert, read_pin


class ShardsApi(Protocol):
    def health(self, *, timeout: float | None = None) -> dict[str, Any]: ...

    def get_shards(self) -> int: ...

    def set_shards(
        self, cc: str, phone_number: str, shards: int, cert: str, *, pin: str | None = None
    ) -> None: ...


def check_count(deployment: Deployment, shards: int) -> None:
    """Raise ConfigError unless the deployment runs enough Coreapps for `shards` (one spare)."""
    settings = deployment.settings
    if shards not in VALID_SHARDS:
        raise ConfigError(f"{shards} shards: the client takes {', '.join(map(str, VALID_SHARDS))}")
    if settings.client.mode != "multiconnect":
        raise ConfigError(
            f"{deployment.loaded.where('client', 'mode')}: shards need client.mode: multiconnect"
        )
    if shards > settings.client.shards:
        where = deployment.loaded.where("client", "shards")
        raise ConfigError(
            f"{where}: {shards} shards need {shards + 1} Coreapps; this deployment runs "
            f"{settings.client.shards + 1}: set client.shards: {shards} and `onprem deploy` first"
        )


def apply_shards(
    api: ShardsApi, *, cc: str, phone_number: str, shards: int, cert: str, pin: str | None
) -> dict[str, Any]:
    """Make the account's shard count `shards`: {"shards", "was", "status": "set"|"unchanged"}.

    Raises ConfigError when the number is not registered, ApiError when the client refuses (a wrong
    or missing PIN says so)."""
    if not is_registered(api):
        raise ConfigError(
            "the number is not registered yet: register it (`onprem register`), then set shards"
        )
    was = api.get_shards()
    if was == shards:
        return {"shards": shards, "was": was, "status": "unchanged"}
    try:
        api.set_shards(cc, phone_number, shards, cert, pin=pin)
    except ApiError as exc:
        hint = " (two-step verification is on: give the PIN with --pin-file)" if pin is None else ""
        raise ApiError(f"{exc}{hint}", status=exc.status, code=exc.code, endpoint=exc.endpoint) from None
    return {"shards": shards, "was": was, "status": "set"}


def set_shards(
    deployment: Deployment, shards: int, *, cert_file: Path | None, pin_file: Path | None
) -> dict[str, Any]:
    """`onprem shards set N`: the number and certificate from the `bootstrap.registration` settings or
    the last `onprem register` (a --cert given wins). Raises ConfigError, ApiError."""
    check_count(deployment, shards)
    cc, phone, cert = _number(deployment, cert_file)
    pin = read_pin(pin_file, deployment.progress) if pin_file is not None else None
    return apply_shards(deployment.api(), cc=cc, phone_number=phone, shards=shards, cert=cert, pin=pin)


def _number(deployment: Deployment, cert_file: Path | None) -> tuple[str, str, str]:
    registration = deployment.settings.bootstrap.registration
    if registration is not None:
        cert = cert_file or deployment.config_path(registration.cert_file)
        return registration.cc, registration.phone_number, read_cert(cert)
    pending = PendingStore(deployment.state.registration_file).read()
    if not pending or cert_file is None:
        raise ConfigError(
            "which number: set bootstrap.registration in onprem.yaml, or give --cert FILE after "
            "`onprem register` from this state directory"
        )
    return str(pending["cc"]), str(pending["phone_number"]), read_cert(cert_file)


def bootstrap_shards(deployment: Deployment, api: ShardsApi) -> str | None:
    """The bootstrap step: apply client.shards once the number is registered (None: nothing to do)."""
    settings = deployment.settings
    registration = settings.bootstrap.registration
    if settings.client.mode != "multiconnect" or registration is None or not is_registered(api):
        return None
    pin_file = deployment.config_path(registration.pin_file) if registration.pin_file else None
    done = apply_shards(
        api,
        cc=registration.cc,
        phone_number=registration.phone_number,
        shards=settings.client.shards,
        cert=read_cert(deployment.config_path(registration.cert_file)),
        pin=read_pin(pin_file, deployment.progress) if pin_file else None,
    )
    return f"shards: {done['shards']} ({done['status']})"


def shard_counts(deployment: Deployment, health: dict[str, Any] | None) -> dict[str, Any] | None:
    """What `status` shows of shards (multiconnect, None otherwise): the account's count (None when the
    API does not say), `client.shards`, the Coreapps that run, and a `problem` when the registered
    account's count is not the configured one."""
    settings = deployment.settings
    if settings.client.mode != "multiconnect":
        return None
    configured = settings.client.shards
    account: int | None = None
    if health is not None:
        try:
            account = deployment.api().get_shards()
        except (ApiError, StateError):
            account = None
    registered = health is not None and not any(
        isinstance(node, dict) and node.get("gateway_status") == "unregistered" for node in health.values()
    )
    problem = None
    if account is not None and registered and account != configured:
        problem = (
            f"the account has {account} shard(s) and client.shards is {configured}: "
            f"run `onprem shards set {configured}`"
        )
    return {"account": account, "configured": configured, "coreapps": configured + 1, "problem": problem}
