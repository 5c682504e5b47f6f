"""`docker load` on this machine from a stream of chunks (an offline bundle's images), nothing written to
disk on the way: the chunks go to the CLI's stdin as they come. The process factory is injectable."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from typing import Any

from onprem.errors import EngineError

LOAD_ARGV = ["docker", "load", "--quiet"]
"""Reads a `docker save` tar, plain or gzip/bzip2/xz-compressed, on stdin."""


def docker_load(chunks: Iterable[bytes], popen: Callable[..., Any] = subprocess.Popen) -> str:
    """Feed `chunks` to `docker load`; its output (one `Loaded image: ...` line per image).

    Raises EngineError when the CLI is missing or the load fails (with what docker said); whatever the
    chunks raise is raised after the process is stopped, so no half-read stream is ever loaded as whole."""
    try:
        proc = popen(LOAD_ARGV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise EngineError(f"cannot run docker load ({exc}); run `make engine`") from None
    try:
        for chunk in chunks:
            proc.stdin.write(chunk)
    except BrokenPipeError:
        pass  # docker load stopped reading: its exit code and stderr say why
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    out, err = proc.communicate()  # closes stdin (a closed pipe is no error there)
    if proc.returncode != 0:
        said = (err or out).decode("utf-8", "replace").strip()
        raise EngineError(f"docker load failed (exit {proc.returncode}): {said}")
    return str(out.decode("utf-8", "replace"))
