"""What every web handler shares: the store, the clock, the `meta` stamp and the web settings.

Built once by the app factory and kept on the aiohttp application under `CONTEXT`. Store calls block
(DB-API drivers), so handlers reach the store through `ctx.db(...)`, which runs them on a worker thread
and keeps the event loop answering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from aiohttp import web

from onprem.emulator.envelope import Meta
from onprem.emulator.store import Store

P = ParamSpec("P")
T = TypeVar("T")

Clock = Callable[[], float]  # epoch seconds


@dataclass(frozen=True)
class WebSettings:
    """The web role's behaviour, from env and flags. `api_key` is kept out of `repr`."""

    certs_dir: Path
    api_key: str | None = field(default=None, repr=False)
    multiconnect: bool = False
    sunset: bool = False
    meta: Meta = field(default_factory=Meta)
    # Where the test-only registration-code file is written (None: not written).
    data_dir: Path | None = None
    # ONPREM_EMULATOR_TEST_HOOKS=1: serve the test-only /_emulator/* endpoints.
    test_hooks: bool = False
    node_name: str = "waweb"
    # Where uploaded media files live (the shared /usr/local/wamedia volume in a deployment).
    media_dir: Path | None = None


@dataclass(frozen=True)
class EmulatorContext:
    store: Store
    settings: WebSettings
    clock: Clock = time.time

    async def db(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store call on a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)


CONTEXT: web.AppKey[EmulatorContext] = web.AppKey("onprem_emulator_context", EmulatorContext)


def context_of(request: web.Request) -> EmulatorContext:
    return request.app[CONTEXT]
