"""The dead-letter admin of the Redis backend: `dlq list` and `replay` beside running replicas.

`RedisAdmin` has its own connection and no consumer of its own: it reads the `dead` sets and their
stream entries, and a replay is one REPLAY script per endpoint (redis_scripts.py), so each endpoint's
requeue and re-enabling is atomic. Replicas see the result at their next claim, which re-reads the
disabled set. Everything raises RelayStoreError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from onprem.relay.settings import RedisSettings
from onprem.relay.store import redis_scripts as lua
from onprem.relay.store.records import DeadLetter, RelayStoreError
from onprem.relay.store.redis import LOCAL_URL, RedisKeys, entry_field, read_entries, redis_client

SCAN_WINDOW = 5000  # the newest events a status lookup reads (it looks back seconds, not days)


class RedisAdmin:
    """Dead letters in Redis, listed and replayed beside running replicas (for the endpoints in the
    settings, or the one named)."""

    def __init__(
        self,
        settings: RedisSettings,
        endpoints: Sequence[str],
        *,
        clock: Callable[[], float],
        client: aioredis.Redis | None = None,
    ) -> None:
        self._settings = settings
        self._endpoints = list(endpoints)
        self._clock = clock
        self._client = client
        self._url = settings.url or LOCAL_URL
        self._k = RedisKeys(settings.key_prefix)

    async def open(self) -> None:
        """Connect and check that Redis answers. Raises RelayStoreError."""
        if self._client is None:
            self._client = redis_client(self._settings, self._url)
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise RelayStoreError(f"cannot use Redis at {self._url}: {exc}") from None

    async def close(self) -> None:
        """Close the connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def list_dead(self, endpoint: str | None, limit: int) -> list[DeadLetter]:
        """Dead-lettered deliveries, oldest first per endpoint, up to `limit` in all."""
        rows: list[DeadLetter] = []
        for name in [endpoint] if endpoint else self._endpoints:
            dead_key, info_key = self._k.of(name, "dead", "deadinfo")
            client = self._open_client()
            try:
                found = cast(list[bytes], await client.zrange(dead_key, 0, limit - len(rows) - 1))
                seqs = [int(s) for s in found]
                infos = await client.hmget(info_key, [str(s) for s in seqs]) if seqs else []
            except (RedisError, OSError) as exc:
                raise RelayStoreError(f"redis: {exc}") from None
            entries = await read_entries(client, self._k.events, seqs)
            for seq, raw in zip(seqs, infos, strict=True):
                fields, info = entries.get(seq), json.loads(raw or "{}")
                if fields is None:
                    continue
                rows.append(
                    DeadLetter(
                        entry_field(fields, 1).decode(),
                        name,
                        int(info.get("attempts", 0)),
                        float(entry_field(fields, 5)),
                        float(info.get("updated_at", 0.0)),
                        str(info.get("error", "")),
                        len(entry_field(fields, 7)),
                    )
                )
            if len(rows) >= limit:
                break
        return rows

    async def replay(self, endpoint: str | None, event_ids: Sequence[str]) -> int:
        """Requeue dead letters (all, one endpoint's, or those of `event_ids`) as due now with a fresh
        attempt budget and re-enable their endpoints (one atomic script per endpoint); returns how many."""
        now, total = self._clock(), 0
        for name in [endpoint] if endpoint else self._endpoints:
            keys = [*self._k.of(name, "due", "attempts", "dead", "deadinfo"), self._k.disabled]
            seqs: list[int] = []
            if event_ids:
                seqs = await self._seqs_of(name, set(event_ids))
                if not seqs:
                    continue
            try:
                total += int(
                    await self._open_client().eval(lua.REPLAY, len(keys), *keys, name, repr(now), *seqs)
                )
            except (RedisError, OSError) as exc:
                raise RelayStoreError(f"redis: {exc}") from None
        return total

    async def bodies_mentioning(self, needle: str, since: float, limit: int) -> list[bytes]:
        """Bodies of events since `since` containing `needle`, oldest first: the newest `SCAN_WINDOW`
        stream entries are read, newest first, until one is older than `since`."""
        wanted, found = needle.encode(), []
        try:
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                await self._open_client().xrevrange(self._k.events, count=SCAN_WINDOW),
            )
        except (RedisError, OSError) as exc:
            raise RelayStoreError(f"redis: {exc}") from None
        for _, fields in entries:
            if float(fields.get(b"at", b"0")) < since:
                break
            body = fields.get(b"body", b"")
            if wanted in body:
                found.append(body)
            if len(found) >= limit:
                break
        return found[::-1]

    def _open_client(self) -> aioredis.Redis:
        if self._client is None:
            raise RelayStoreError("the store is closed")
        return self._client

    async def _seqs_of(self, endpoint: str, event_ids: set[str]) -> list[int]:
        client = self._open_client()
        try:
            dead = cast(list[bytes], await client.zrange(self._k.of(endpoint, "dead")[0], 0, -1))
        except (RedisError, OSError) as exc:
            raise RelayStoreError(f"redis: {exc}") from None
        entries = await read_entries(client, self._k.events, [int(s) for s in dead])
        return [seq for seq, fields in entries.items() if entry_field(fields, 1).decode() in event_ids]
