"""Offline bundles, for hosts and sites that cannot pull anything.

`build` (`onprem bundle -o FILE`) writes one where the images exist: the files the config renders and one
`docker save` of every image its stack needs, from this machine's engine. `open_bundle` (`deploy --bundle`,
`plan --bundle`) reads one back whole and checks it fits the config before anything is touched; the
`CarriedBundle` it returns is the deploy's image carrier: on each host, once the pre-flight checks have
passed, it loads the bundle's images when the host lacks one of them (by image ID), streamed over the
host's engine connection and never written to its disk, and nothing when it has them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from onprem import __version__
from onprem.bundle import digest, file_hashes
from onprem.config import LoadedConfig
from onprem.deployment import Deployment
from onprem.engine.base import Engine
from onprem.engine.hosts import HostsEngine
from onprem.engine.images import ImageSource, LocalImages, normalize, stack_images
from onprem.errors import ConfigError, EngineError
from onprem.offline import archive
from onprem.offline.archive import Verified
from onprem.offline.manifest import IMAGES_GZIP, IMAGES_PLAIN, BundleImage, Manifest, fit_problems
from onprem.offline.saved import Packed, pack
from onprem.render import profiles, read_kit, render
from onprem.workflows.apply import composes
from onprem.workflows.deploy import DeployResult, deploy
from onprem.workflows.preflight import ImageCheck
from onprem.workflows.prepare import image_names


@dataclass(frozen=True)
class Built:
    """A bundle file just written."""

    path: Path
    sha256: str
    size: int
    manifest: Manifest

    def as_json(self) -> dict[str, Any]:
        return {"bundle": str(self.path), "sha256": self.sha256, "size": self.size, **self.manifest.as_json()}


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def build(
    loaded: LoadedConfig,
    output: Path,
    *,
    compress: bool = True,
    images: ImageSource | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[str], None] = lambda _line: None,
) -> Built:
    """Write an offline bundle of the configured stack at `output`: the files it renders (with no state
    directory's identity, and no secret: those stay in the state directory) and one `docker save` of
    every image it runs, from `images` (this machine's engine by default).

    Raises ConfigError naming the images this machine lacks, or when `output` cannot be written;
    EngineError when `docker save` fails."""
    settings = loaded.settings
    files = render(settings, kit=read_kit())
    names = image_names(loaded)
    source = images if images is not None else LocalImages()
    lacking = [name for name, image_id in source.ids(names).items() if image_id is None]
    if lacking:
        raise ConfigError(
            f"{loaded.where()}: this machine has no {', '.join(lacking)}, which the stack runs, so it cannot "
            "bundle them: build them here with `make images` (`onprem images` lists what the stack runs), "
            "or `docker load` them, then make the bundle again"
        )
    created = now()
    member = IMAGES_GZIP if compress else IMAGES_PLAIN
    progress(f"saving {len(names)} images ({', '.join(names)}) into {member}")
    scratch = output.parent / f".{output.name}.{os.getpid()}.images"
    try:
        packed = _pack(source, names, scratch, compress=compress)
        held = [packed.images.get(normalize(name)) for name in names]
        missing = [name for name, image in zip(names, held, strict=True) if image is None]
        if missing:
            raise EngineError(f"docker save {' '.join(names)} did not hold {', '.join(missing)}")
        manifest = Manifest(
            onprem_version=__version__,
            deployment=settings.deployment.name,
            config_digest=digest(file_hashes(files)),
            created=created.isoformat(timespec="seconds"),
            files=file_hashes(files),
            images=[BundleImage(name, i.id, i.size) for name, i in zip(names, held, strict=True) if i],
            images_member=member,
            images_sha256=packed.sha256,
            images_size=packed.size,
        )
        sha256 = archive.write(output, manifest, files, scratch, mtime=int(created.timestamp()))
    finally:
        scratch.unlink(missing_ok=True)
    return Built(output, sha256, output.stat().st_size, manifest)


def _pack(source: ImageSource, names: Sequence[str], scratch: Path, *, compress: bool) -> Packed:
    chunks = source.save(names)
    try:
        with scratch.open("wb") as handle:
            return pack(chunks, handle, compress=compress)
    except OSError as exc:
        raise ConfigError(f"cannot write {scratch}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise EngineError(f"docker save {' '.join(names)} gave something unreadable: {exc}") from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # stops `docker save` when the stream was not read to its end


def open_bundle(deployment: Deployment, path: Path) -> CarriedBundle:
    """Read the bundle at `path` whole and check that it fits this onprem and this config (touches no
    engine and writes nothing). Raises ConfigError naming the member at fault (missing, cut short,
    corrupt, a manifest that lies), or why the bundle is not for this config."""
    deployment.progress(f"verifying the bundle {path}")
    verified = archive.verify(path)
    settings = deployment.settings
    problems = fit_problems(
        verified.manifest,
        version=__version__,
        deployment=settings.deployment.name,
        files=file_hashes(render(settings, kit=read_kit())),
        images=image_names(deployment.loaded),
    )
    if problems:
        lines = [f"bundle {path}: {problem}" for problem in problems]
        lines[-1] += f"; {archive.UNCHANGED}"
        raise ConfigError(lines)
    manifest = verified.manifest
    deployment.progress(
        f"bundle verified: deployment {manifest.deployment}, made {manifest.created} by onprem "
        f"{manifest.onprem_version}, {len(manifest.images)} images in {megabytes(verified.size)}"
    )
    return CarriedBundle(verified)


@dataclass
class CarriedBundle:
    """A verified bundle that fits the deployment: the image carrier of `deploy` (see ImageCarrier)."""

    verified: Verified
    loaded: dict[str, list[str]] = field(default_factory=dict)
    """The images each host lacked, by host, once the bundle was brought there."""

    @property
    def wanted(self) -> dict[str, str]:
        return self.verified.manifest.image_ids()

    def lacking(self, deployment: Deployment, names: Sequence[str]) -> list[str]:
        """The `names` some host lacks or holds in another version than the bundle's (read-only)."""
        found = _on_hosts(deployment, names, lambda _host, engine, mine: self._lacking(engine, mine))
        return sorted({name for names_there in found.values() for name in names_there})

    def __call__(self, deployment: Deployment, names: Sequence[str]) -> ImageCheck:
        """Load the bundle's images onto every host that lacks one of `names`. Raises EngineError when a
        load fails, or leaves an image with another ID than the bundle says."""
        self.loaded = _on_hosts(
            deployment, names, lambda host, engine, mine: self._bring(deployment, host, engine, mine)
        )
        brought = sorted({name for names_there in self.loaded.values() for name in names_there})
        return ImageCheck(present=list(names), loaded=brought)

    def _lacking(self, engine: Engine, names: Sequence[str]) -> list[str]:
        on_host = engine.image_ids(names)
        return [name for name in names if on_host.get(name) != self.wanted.get(name)]

    def _bring(self, deployment: Deployment, host: str, engine: Engine, names: Sequence[str]) -> list[str]:
        lacking = self._lacking(engine, names)
        if not lacking:
            return []
        member = self.verified.manifest.images_member
        deployment.progress(
            f"loading {member} of the bundle ({megabytes(self.verified.manifest.images_size)}) onto {host}, "
            f"which lacks {', '.join(lacking)}"
        )
        engine.load_images(archive.image_chunks(self.verified))
        after = engine.image_ids(names)
        wrong = [name for name in names if after.get(name) != self.wanted.get(name)]
        if wrong:
            raise EngineError(
                f"after loading the bundle, {host} holds "
                + ", ".join(f"{n} as {after.get(n)} (the bundle's is {self.wanted.get(n)})" for n in wrong)
            )
        return lacking

    def note(self) -> str:
        """One line on what the bundle brought."""
        name = self.verified.path.name
        if not any(self.loaded.values()):
            return f"bundle {name}: every host had its images, nothing loaded"
        return "; ".join(
            f"bundle {name}: loaded onto {host}, which lacked {', '.join(names)}"
            for host, names in self.loaded.items()
            if names
        )


def _on_hosts(
    deployment: Deployment, names: Sequence[str], work: Callable[[str, Engine, list[str]], list[str]]
) -> dict[str, list[str]]:
    """`work(host, engine, the names its services run)` on every host of the deployment, in parallel
    when there are several."""
    engine = deployment.engine
    if not isinstance(engine, HostsEngine):
        host = deployment.settings.hosts[0].name
        return {host: work(host, engine, list(names))}
    active = profiles(deployment.settings)
    texts: Mapping[str, str] = composes(deployment, render(deployment.settings, kit={}))
    return engine.each(
        lambda host, host_engine: work(
            host, host_engine, [n for n in stack_images(texts[host], active) if n in names]
        )
    )


def deploy_from(deployment: Deployment, bundle: CarriedBundle) -> DeployResult:
    """`deploy` with the images of a bundle `open_bundle` checked. Raises as `deploy`."""
    result = deploy(deployment, carrier=bundle)
    note = bundle.note()
    result.notes.append(note)
    result.summary += f"; {note}"
    return result
