"""What a deploy checks and renders before any engine is touched: the config (`onprem config`), the
secrets, the bundle (`onprem render`), the images the stack runs (`onprem images`), and the digest that
tells whether anything changed since the running release."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from onprem.bundle import COMPOSE_FILE, BundleDiff, digest, file_hashes
from onprem.chain import check_public_chain
from onprem.config import LoadedConfig
from onprem.deployment import Deployment
from onprem.engine.images import stack_images
from onprem.errors import ConfigError
from onprem.relay.settings import ChainCertificateSettings
from onprem.render import profiles, read_kit, render
from onprem.secrets import APIKEY_HEADER, CLOUD_TOKEN_SPEC, SPECS
from onprem.sidecars import all_secret_names
from onprem.state import StateDir
from onprem.workflows import bootstrap
from onprem.workflows.certs import RELAY_CERT_SECRET, RELAY_KEY_SECRET


@dataclass(frozen=True)
class Prepared:
    """A render with its secrets resolved: the bundle's files, the secret values, and the digest of
    both (plus the bootstrap steps) that tells whether anything changed since the last deploy."""

    files: dict[str, str]
    values: dict[str, str]
    digest: str


def secrets_digest(values: Mapping[str, str]) -> dict[str, str]:
    # Only hashes, so the record can say "a secret changed" without holding any secret.
    return {name: hashlib.sha256(value.encode()).hexdigest() for name, value in values.items()}


def missing_secret_files(loaded: LoadedConfig, stored: Callable[[str], bool]) -> list[str]:
    """Secret files the rendered stack mounts that no source provides and `stored` lacks (pure).

    Only the relay's certificate (RELAY_TLS_CERT, RELAY_TLS_KEY) is written by another command; a
    first deploy with `bootstrap.certs` issues it before anything else."""
    settings = loaded.settings
    provided = {spec.name for spec in SPECS} | set(settings.secrets.extra) | {APIKEY_HEADER}
    if settings.cloud.emulator:
        provided.add(CLOUD_TOKEN_SPEC.name)
    if settings.bootstrap.certs:
        provided |= {RELAY_CERT_SECRET, RELAY_KEY_SECRET}
    return [name for name in all_secret_names(settings) if name not in provided and not stored(name)]


def check_cloud_emulator(loaded: LoadedConfig) -> None:
    """`cloud.emulator` plays the number of `bootstrap.registration` on the Docker host's network (pure).

    Raises ConfigError naming the field and the fix."""
    settings = loaded.settings
    if not settings.cloud.emulator:
        return
    if settings.bootstrap.registration is None:
        raise ConfigError(
            f"{loaded.where('cloud', 'emulator')}: the Cloud API emulator plays the number being moved: "
            "set bootstrap.registration (cc, phone_number) so that it knows which number that is"
        )
    if settings.deployment.target == "swarm":
        raise ConfigError(
            f"{loaded.where('cloud', 'emulator')}: the Cloud API emulator runs on the host's network, which "
            "a Swarm stack does not offer: use deployment.target: compose, or run `onprem emulator cloud` "
            "outside the stack"
        )


def check_config(loaded: LoadedConfig) -> None:
    """Everything `deploy` checks before touching anything, without writing anything (`onprem config`).

    Raises ConfigError naming the file, the field and the fix."""
    bootstrap.check(loaded)
    check_cloud_emulator(loaded)
    secrets_dir = StateDir(loaded.state_dir).secrets
    unknown = missing_secret_files(loaded, lambda name: (secrets_dir / name).is_file())
    if unknown:
        tls = any(n in (RELAY_CERT_SECRET, RELAY_KEY_SECRET) for n in unknown)
        hint = (
            ": the relay serves TLS, so issue its certificate first (`onprem certs issue`) or set "
            "`bootstrap: {certs: true}`"
            if tls
            else "; name them under secrets.extra to generate or source them"
        )
        raise ConfigError(
            f"{loaded.where('relay')}: the relay or exporter settings read secret files onprem lacks: "
            f"{', '.join('/run/secrets/' + n for n in unknown)}{hint}"
        )


def prepare(deployment: Deployment, identity: str = "") -> Prepared:
    """Check the config, resolve secrets and render with the state directory's `identity` (no engine
    involved). Raises ConfigError / SecretError / StateError.
    """
    loaded = deployment.loaded
    check_config(loaded)
    values = secret_values(deployment)
    check_public_certificate(loaded, values, datetime.now(UTC))
    files = render(loaded.settings, kit=read_kit(), identity=identity)
    return Prepared(files, values, config_digest(loaded, files, values))


def check_public_certificate(loaded: LoadedConfig, values: Mapping[str, str], now: datetime) -> None:
    """With `relay.public.certificate.source: chain`, check the operator's chain and key as `certs upload`
    does, before anything is deployed (the relay itself only loads them). Raises ConfigError naming the
    field and the secret that holds the file."""
    relay = loaded.settings.relay
    cert = relay.public.certificate if relay.enabled and relay.public is not None else None
    if not isinstance(cert, ChainCertificateSettings) or relay.public is None:
        return
    chain_name, key_name = (path.rsplit("/", 1)[-1] for path in (cert.chain_file, cert.key_file))
    origin = (
        f"{loaded.where('relay', 'public', 'certificate')}: relay.public.certificate "
        f"(secrets {chain_name} and {key_name})"
    )
    check_public_chain(
        values.get(chain_name, ""), values.get(key_name, ""), relay.public.host_name, now=now, origin=origin
    )


def secret_values(deployment: Deployment) -> dict[str, str]:
    """Every secret the stack mounts, by file name: resolved from its source (generated on first use),
    and the files other commands store (`certs issue`'s RELAY_TLS_CERT and RELAY_TLS_KEY).

    Raises ConfigError (a changed or refused value), SecretError, StateError."""
    values = deployment.secrets.resolve(deployment.loaded)
    for name in all_secret_names(deployment.settings):
        stored = None if name in values else deployment.secrets.read(name)
        if stored is not None:
            values[name] = stored
    return values


def config_digest(loaded: LoadedConfig, files: Mapping[str, str], values: Mapping[str, str]) -> str:
    """One digest of the bundle, the secrets (hashed) and the bootstrap steps (which render nothing, but
    a change to them is a change to deploy), pure."""
    extra = {**secrets_digest(values), "bootstrap": loaded.settings.bootstrap.model_dump_json()}
    return digest(file_hashes(files), extra)


def image_names(loaded: LoadedConfig) -> list[str]:
    """The images the configured stack runs (its active profiles only), from a render (pure)."""
    settings = loaded.settings
    files = render(settings, kit={})
    texts = [text for path, text in files.items() if path.rsplit("/", 1)[-1] == COMPOSE_FILE]
    return sorted({name for text in texts for name in stack_images(text, profiles(settings))})


def render_only(deployment: Deployment) -> BundleDiff:
    """Write the bundle without touching the engine (`onprem render`). Raises as `prepare`."""
    identity, new = deployment.state.identity_or_new()
    files = prepare(deployment, identity).files
    if new:
        deployment.state.write_identity(identity, deployment.now().isoformat(timespec="seconds"))
    return deployment.write_bundles(files)


def describe(changes: BundleDiff) -> str:
    """`unchanged`, or `2 added, 1 changed` (pure)."""
    if changes.empty:
        return "unchanged"
    groups = (("added", changes.added), ("changed", changes.changed), ("removed", changes.removed))
    return ", ".join(f"{len(paths)} {kind}" for kind, paths in groups if paths)
