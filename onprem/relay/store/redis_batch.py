"""Client-side group commit for the Redis store: script calls that arrive while a pipeline is in flight
go together in the next one.

At low load a call is sent at once (a pipeline of one); under load, the calls of every request that
arrived during one round trip share the next round trip, and Redis, running them in one event-loop
iteration, fsyncs its AOF once for all of them. Scripts are called by SHA (loaded once at start, again
after Redis forgets them), so a pipeline costs exactly one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from onprem.relay.store.records import RelayStoreError

_Call = tuple[str, list[str], list[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    """Runs Lua scripts by name, coalescing concurrent calls into pipelines. Calls raise RelayStoreError."""

    def __init__(
        self, client: Redis, scripts: Mapping[str, str], on_batch: Callable[[int], None] = lambda size: None
    ) -> None:
        self._client = client
        self._texts = dict(scripts)
        self._shas: dict[str, str] = {}
        self._queue: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self._on_batch = on_batch

    async def load(self) -> None:
        """Load every script into Redis (SCRIPT LOAD). Raises RedisError or OSError."""
        for name, text in self._texts.items():
            self._shas[name] = str(await self._client.script_load(text))

    async def call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """The script's result, once the pipeline that carried it has come back."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def close(self) -> None:
        """Wait for what is queued to be sent."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            self._on_batch(len(batch))
            try:
                results = await self._send(batch)
                again = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
                if again:  # Redis restarted or was flushed: load the scripts, resend only those calls
                    await self.load()
                    for i, result in zip(again, await self._send([batch[i] for i in again]), strict=True):
                        results[i] = result
            except (RedisError, OSError) as exc:
                results = [exc] * len(batch)
            for (_, _, _, future), result in zip(batch, results, strict=True):
                if future.done():  # the request went away; its write happened (or not) all the same
                    continue
                if isinstance(result, Exception):
                    future.set_exception(RelayStoreError(f"redis: {result}"))
                else:
                    future.set_result(result)

    async def _send(self, batch: list[_Call]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for script, keys, args, _ in batch:
                pipe.evalsha(self._shas[script], len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))
