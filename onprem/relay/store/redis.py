"""The scale-out backend's store: Redis Streams with one consumer group per endpoint, shared by replicas.

Every operation of `RedisStore` is one Lua script (redis_scripts.py), atomic inside Redis, so replicas
never see each other's half-done work. An append returns once Redis has executed XADD; with
`appendfsync always` Redis fsyncs its log before replying, once for everything it ran in one loop
iteration, so concurrent appends from every replica share one fsync: Redis does the group commit the
SQLite store does for itself (and redis_batch.py shares the round trips).

Replicas read new entries through their consumer group (each entry goes to one replica per endpoint),
and lease what they read in the `due` set; a replica that is killed leaves leases that run out, and the
others take its deliveries over. No event is held in memory before it is stored: the dispatcher polls
(and is woken by this process's own appends), so `leases_on_append` is False.

The key layout, the client and the reads of stream entries here are shared with redis_admin.py.
Everything raises RelayStoreError.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from onprem.relay.metrics import StoreGauges
from onprem.relay.settings import RedisSettings
from onprem.relay.store import redis_scripts as lua
from onprem.relay.store.records import (
    DEAD,
    DELIVERED,
    Delivery,
    NewEvent,
    Outcome,
    RelayStoreError,
)
from onprem.relay.store.redis_batch import ScriptBatcher

PURGE_CHUNK = 5000
LOCAL_URL = "redis://127.0.0.1:6379/0"  # a standalone relay whose settings name no Redis
MAX_CONNECTIONS = 64  # per replica; each request holds one for a single script call


def entry_field(fields: list[bytes], index: int) -> bytes:
    """One value of a stream entry read as a flat list."""
    return fields[index]  # fields are [b"id", id, b"source", source, b"at", at, b"body", body]


class RedisKeys:
    """The key layout of redis_scripts.py, under one `{prefix}` hash tag (one Redis Cluster slot)."""

    def __init__(self, key_prefix: str) -> None:
        self.prefix = "{" + key_prefix + "}"
        self.events = f"{self.prefix}:events"
        self.seq = f"{self.prefix}:seq"
        self.disabled = f"{self.prefix}:disabled"

    def of(self, endpoint: str, *kinds: str) -> list[str]:
        """The keys of `endpoint` of each kind (due, attempts, dead, deadinfo), in that order."""
        return [f"{self.prefix}:{kind}:{endpoint}" for kind in kinds]


def redis_client(settings: RedisSettings, url: str) -> aioredis.Redis:
    """A client on a bounded, blocking pool: a burst of requests waits for a connection instead of failing.
    Connects lazily. Raises RelayStoreError when the password file cannot be read."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=10,
        username=settings.username,
        password=_password(settings),
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


def _password(settings: RedisSettings) -> str | None:
    path = settings.password_file
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise RelayStoreError(
            f"relay.store.redis.password_file: cannot read {path} ({exc.strerror})"
        ) from None


async def read_entries(
    client: aioredis.Redis | None, events: str, seqs: Sequence[int]
) -> dict[int, list[bytes]]:
    """The stream entries of `seqs` that still exist, as flat field lists. Raises RelayStoreError."""
    if client is None:
        raise RelayStoreError("the store is closed")
    try:
        async with client.pipeline(transaction=False) as pipe:
            for seq in seqs:
                pipe.xrange(events, f"{seq}-0", f"{seq}-0")
            found = await pipe.execute()
    except (RedisError, OSError) as exc:
        raise RelayStoreError(f"redis: {exc}") from None
    out: dict[int, list[bytes]] = {}
    for seq, entries in zip(seqs, found, strict=True):
        if entries:
            fields = entries[0][1]
            out[seq] = [v for kv in fields.items() for v in kv]
    return out


async def read_disabled(client: aioredis.Redis | None, key: str) -> set[str]:
    """Names of the endpoints disabled by a 410. Raises RelayStoreError."""
    if client is None:
        raise RelayStoreError("the store is closed")
    try:
        names = cast(list[bytes], await client.hkeys(key))
    except (RedisError, OSError) as exc:
        raise RelayStoreError(f"redis: {exc}") from None
    return {name.decode() for name in names}


class RedisStore:
    """Events and deliveries in Redis, for relays that scale out. Every method may raise RelayStoreError."""

    leases_on_append = False

    def __init__(
        self,
        settings: RedisSettings,
        endpoints: Sequence[str],
        *,
        clock: Callable[[], float],
        lease_seconds: float = 60.0,
        dedup_window_seconds: float = 86400.0,
        retention_seconds: float = 7 * 86400.0,
        client: aioredis.Redis | None = None,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._settings = settings
        self._endpoints = list(endpoints)
        self._clock = clock
        self._lease = lease_seconds
        self._window_ms = int(dedup_window_seconds * 1000)
        self._retention = retention_seconds
        self._client = client
        self._url = settings.url or LOCAL_URL
        self._consumer = settings.consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._k = RedisKeys(settings.key_prefix)
        self._disabled: set[str] = set()
        self._batch: ScriptBatcher | None = None
        self._on_batch = on_batch

    @property
    def disabled(self) -> frozenset[str]:
        """Endpoints disabled by a 410 (kept in Redis, shared by every replica)."""
        return frozenset(self._disabled)

    async def open(self) -> None:
        """Connect, create the endpoints' consumer groups, read the disabled set. Raises RelayStoreError."""
        if self._client is None:
            self._client = redis_client(self._settings, self._url)
        scripts = {name: getattr(lua, name) for name in lua.SCRIPTS}
        self._batch = ScriptBatcher(self._client, scripts, on_batch=self._on_batch)
        try:
            await self._client.ping()
            await self._batch.load()
            for name in self._endpoints:
                try:  # '$': an endpoint gets the events stored after it was configured
                    await self._client.xgroup_create(self._k.events, name, id="$", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
            self._disabled = await read_disabled(self._client, self._k.disabled)
        except (RedisError, OSError) as exc:
            raise RelayStoreError(f"cannot use Redis at {self._url}: {exc}") from None

    async def close(self) -> None:
        """Send what is queued, then close the connections."""
        if self._batch is not None:
            await self._batch.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        if self._client is None or self._batch is None:
            raise RelayStoreError("the store is closed")
        return await self._batch.call(script, keys, args)

    async def append(self, event: NewEvent) -> int | None:
        """Store `event` for every endpoint; its sequence number, or None for a duplicate."""
        dedup = event.dedup_key is not None and self._window_ms > 0
        keys = [self._k.events, self._k.seq, f"{self._k.prefix}:dedup:{event.dedup_key if dedup else ''}"]
        window = str(self._window_ms) if dedup else ""
        args = [window, event.event_id, event.source, repr(event.received_at), event.body]
        seq = await self._run("APPEND", keys, args)
        return None if seq is None else int(seq)

    async def claim_due(self, limit: int) -> list[Delivery]:
        """Lease up to `limit` deliveries: due retries, expired leases, then entries no replica read yet."""
        # Re-read the disabled set each time: another replica, or `onprem relay replay`, may change it.
        self._disabled = await read_disabled(self._client, self._k.disabled)
        now = self._clock()
        claimed: list[Delivery] = []
        # Fair shares, so one busy endpoint cannot starve the others; what a share leaves unused goes to
        # the endpoints that filled theirs, in further rounds.
        hungry = [name for name in self._endpoints if name not in self._disabled]
        while hungry and len(claimed) < limit:
            share = max(1, (limit - len(claimed)) // len(hungry))
            full: list[str] = []
            for name in hungry:
                room = min(share, limit - len(claimed))
                got = await self._claim(name, now, room) if room > 0 else []
                claimed += got
                if room > 0 and len(got) == room:
                    full.append(name)
            hungry = full
        return claimed

    async def _claim(self, name: str, now: float, limit: int) -> list[Delivery]:
        keys = [self._k.events, *self._k.of(name, "due", "attempts")]
        args = [name, self._consumer, repr(now), repr(now + self._lease), limit]
        return [
            Delivery(
                int(seq),
                entry_field(fields, 1).decode(),
                name,
                int(attempts),
                float(entry_field(fields, 5)),
                entry_field(fields, 3).decode(),
                entry_field(fields, 7),
            )
            for seq, attempts, fields in await self._run("CLAIM", keys, args)
        ]

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Apply the outcomes of delivery attempts (each atomically, sharing round trips with others)."""
        now = self._clock()
        calls = []
        for o in outcomes:
            state = "1" if o.state == DELIVERED else "2" if o.state == DEAD else "0"
            info = json.dumps({"attempts": o.attempts, "updated_at": now, "error": o.error[:500]})
            keys = [self._k.events, *self._k.of(o.endpoint, "due", "attempts", "dead", "deadinfo")]
            calls.append(
                self._run("OUTCOME", keys, [o.endpoint, o.seq, state, o.attempts, repr(o.next_at), info])
            )
        await asyncio.gather(*calls)

    async def disable_endpoint(self, name: str, reason: str) -> int:
        """Disable `name` for every replica and dead-letter its deliveries in progress; returns how many."""
        self._disabled.add(name)
        now = self._clock()
        keys = [*self._k.of(name, "due", "attempts", "dead", "deadinfo"), self._k.disabled]
        info = json.dumps({"since": now, "reason": reason})
        return int(await self._run("DISABLE", keys, [name, info, repr(now), reason]))

    async def gauges(self) -> StoreGauges:
        """Undelivered and dead-lettered deliveries over all endpoints, and the oldest undelivered age."""
        pending = dead = 0
        oldest: int | None = None
        for name in self._endpoints:
            count, dead_count, first = await self._run(
                "GAUGES", [self._k.events, *self._k.of(name, "dead")], [name]
            )
            pending, dead = pending + int(count), dead + int(dead_count)
            if first is not None and (oldest is None or int(first) < oldest):
                oldest = int(first)
        age = 0.0
        if oldest is not None:
            found = await read_entries(self._client, self._k.events, [oldest])
            if oldest in found:
                age = max(0.0, self._clock() - float(entry_field(found[oldest], 5)))
        return StoreGauges(pending=pending, oldest_pending_age_seconds=age, dead=dead)

    async def purge(self) -> int:
        """Trim delivered entries older than the retention, never one any endpoint still needs (the
        de-duplication keys expire by themselves). Returns how many entries were deleted."""
        cutoff = self._clock() - self._retention
        total = 0
        while True:
            deleted = int(
                await self._run("PURGE", [self._k.events], [repr(cutoff), PURGE_CHUNK, *self._endpoints])
            )
            total += deleted
            if deleted < PURGE_CHUNK:
                return total

    async def probe(self) -> None:
        """A tiny write. Raises RelayStoreError when Redis does not accept writes."""
        if self._client is None:
            raise RelayStoreError("the store is closed")
        try:
            await self._client.set(f"{self._k.prefix}:health", repr(self._clock()))
        except (RedisError, OSError) as exc:
            raise RelayStoreError(f"redis: {exc}") from None
