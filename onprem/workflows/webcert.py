"""The web container's side of `certs upload`: what it serves before an upload, putting that back when
the new certificate keeps `waweb` from coming back healthy, and the roots the exporter trusts.

The client keeps an uploaded bundle as `<data>/certs/external/uploaded.pem` in its data volume, and
serves its own self-signed certificate when there is none. The exporter mounts that volume read-only and
verifies the web endpoint against the client's CA there (`exporter.ca_file`) and the roots in
`exporter.trusted_ca_file` (`<data>/onprem/trusted.pem`), which onprem writes through the engine, so the
exporter's trust follows an upload on any host, from the next scrape, without a restart.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from onprem.deployment import TRUSTED_FILE, WEB_SERVICE, Deployment
from onprem.errors import EngineError, GateError, OnpremError, StateError
from onprem.state import write_private
from onprem.workflows.gate import gate, service_logs

DATA_DIR = "/usr/local/waent/data"
"""Where the web container (and, read-only, the exporter) mounts the client's data volume."""
EXTERNAL_DIR = f"{DATA_DIR}/certs/external"
UPLOADED_FILE = "uploaded.pem"
"""The bundle the client was given with POST /v1/certificates/external (key, certificate, chain)."""
DIGEST_FILE = "uploaded.sha256"
PREVIOUS_COPY = "previous-upload.pem"
"""In the state's certs/ (0600): the bundle the web container held, while an upload is tried."""
ONE_OFF_RM = ("run", "--rm", "--no-deps", "-T", "--entrypoint", "rm")
"""`docker compose` args of a one-off container of a service that removes files (then SERVICE -f PATH)."""


@dataclass(frozen=True)
class Previous:
    """What serves and trusts the web endpoint before an upload, to put back."""

    uploaded: bytes | None
    """The bundle in the web container (None: it serves its own self-signed certificate)."""
    trusted: str | None
    digest: str | None
    pinned: bytes | None


def file_tar(path: str, data: bytes, mode: int) -> bytes:
    """A tar holding `path` (relative; its parent directories 0755) with `data` and `mode` (pure)."""
    buffer = io.BytesIO()
    parts = PurePosixPath(path).parts
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for depth in range(1, len(parts)):
            directory = tarfile.TarInfo("/".join(parts[:depth]))
            directory.type, directory.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(directory)
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _uploaded(deployment: Deployment) -> bytes | None:
    # Only that file is read (the directory also holds the client's own keys), and only when it exists:
    # an engine error must not pass for "nothing was uploaded", or a revert would delete a good bundle.
    engine, project, path = deployment.engine, deployment.project, f"{EXTERNAL_DIR}/{UPLOADED_FILE}"
    code, _out, err = engine.exec(project, WEB_SERVICE, ["test", "-f", path])
    if code == 1:
        return None
    if code != 0:
        detail = err.decode("utf-8", "replace").strip()
        raise EngineError(f"cannot tell whether {path} exists in {WEB_SERVICE} (exit {code}): {detail}")
    return engine.read_file(project, WEB_SERVICE, path)


def take(deployment: Deployment) -> Previous:
    """What the web container serves and the state directory trusts now. Raises EngineError when the
    web container cannot be read."""
    files = deployment.state.certs
    ca_file = deployment.state.ca_file
    return Previous(
        uploaded=_uploaded(deployment),
        trusted=files.read(TRUSTED_FILE),
        digest=files.read(DIGEST_FILE),
        pinned=ca_file.read_bytes() if ca_file.is_file() else None,
    )


def exporter_trust_path(deployment: Deployment) -> str | None:
    """Where the exporter reads more roots to trust, when it runs and that file is in the data volume."""
    exporter = deployment.settings.exporter
    path = exporter.trusted_ca_file
    if not exporter.enabled or path is None or not path.startswith(DATA_DIR + "/"):
        return None
    return path


def trust_exporter(deployment: Deployment, pem: str) -> bool:
    """Write `pem` (roots; "" for none) as the exporter's extra trust in the data volume, through the web
    container. False when there is nowhere to write it. Raises EngineError."""
    path = exporter_trust_path(deployment)
    if path is None:
        return False
    relative = str(PurePosixPath(path).relative_to(DATA_DIR))
    tar = file_tar(relative, pem.encode("ascii"), 0o644)
    deployment.engine.write_tree(deployment.project, WEB_SERVICE, DATA_DIR, tar)
    return True


def restore_state(deployment: Deployment, previous: Previous) -> None:
    """Put back the state directory's trust (trusted roots, uploaded digest, pinned CA) and the
    exporter's. Raises StateError, EngineError."""
    files = deployment.state.certs
    for name, text in ((TRUSTED_FILE, previous.trusted), (DIGEST_FILE, previous.digest)):
        if text is None:
            files.path(name).unlink(missing_ok=True)
        else:
            files.write(name, text)
    if previous.pinned is not None:
        deployment.state.pin_ca(previous.pinned)
    trust_exporter(deployment, previous.trusted or "")


def restart_web(deployment: Deployment) -> None:
    """Restart `waweb` (it loads an uploaded certificate at start) and gate it; a crash loop fails at
    once. Raises EngineError, GateError."""
    deployment.compose("restart", WEB_SERVICE)
    gate(deployment, [WEB_SERVICE], crash_loop_fails=True)


def revert(deployment: Deployment, previous: Previous, cause: OnpremError) -> tuple[GateError, bool]:
    """`waweb` did not come back healthy with the uploaded certificate: stop it, put the previous one
    back (or remove the upload, for the self-signed one), restore the trust, start and gate it.

    Returns the error to raise (a GateError saying the upload was reverted and why, with web's log
    lines; or what is left to do when putting it back failed too) and whether it was reverted."""
    logs = cause.logs if isinstance(cause, GateError) and cause.logs else ""
    logs = logs or service_logs(deployment.engine, deployment.project, WEB_SERVICE)
    what = "the previous uploaded certificate" if previous.uploaded else "its own self-signed certificate"
    try:
        deployment.compose("stop", WEB_SERVICE)
        if previous.uploaded is not None:
            tar = file_tar(UPLOADED_FILE, previous.uploaded, 0o600)
            deployment.engine.write_tree(deployment.project, WEB_SERVICE, EXTERNAL_DIR, tar)
        else:
            # The container is stopped, so `exec` cannot remove the file: a one-off container can.
            target = f"{EXTERNAL_DIR}/{UPLOADED_FILE}"
            deployment.compose(*ONE_OFF_RM, WEB_SERVICE, "-f", target)
        restore_state(deployment, previous)
        deployment.compose("start", WEB_SERVICE)
        gate(deployment, [WEB_SERVICE], crash_loop_fails=True)
    except (EngineError, GateError, StateError) as exc:
        failed = GateError(
            f"web did not come back healthy with the uploaded certificate ({cause}), and putting "
            f"{what} back failed too: {exc}. The upload is in {EXTERNAL_DIR}/{UPLOADED_FILE} of the waweb "
            "container's data volume; upload a good chain once web answers, or remove that file and "
            "`docker compose start waweb`",
            service=WEB_SERVICE,
            logs=logs,
        )
        return failed, False
    reverted = GateError(
        f"web did not come back healthy with the uploaded certificate ({cause}); the upload was reverted: "
        f"web serves {what} again and is healthy. Fix the chain (its last log lines show why web refused "
        "it) and upload it again",
        service=WEB_SERVICE,
        logs=logs,
    )
    return reverted, True


def keep_copy(deployment: Deployment, previous: Previous) -> None:
    """Keep the bundle the web container held (its key included) in the state's certs/ (0600) while an
    upload is tried, so that a crash of this command cannot lose it. Raises StateError."""
    if previous.uploaded is not None:
        write_private(deployment.state.certs.path(PREVIOUS_COPY), previous.uploaded)


def drop_copy(deployment: Deployment) -> None:
    """The upload is settled (healthy, or reverted): the kept copy goes."""
    deployment.state.certs.path(PREVIOUS_COPY).unlink(missing_ok=True)
