"""The scale-out store: Redis Streams with one consumer group per endpoint, shared by several relays.

Every operation is one Lua script (redis_scripts.py), atomic inside Redis, so replicas never see each
other's half-done work. An append returns once Redis has executed XADD; with `appendfsync always` Redis
fsyncs its log before replying, once for everything it ran in one loop iteration, so concurrent appends
from every replica share one fsync: Redis does the group commit the SQLite store does for itself.

Replicas read new entries through their consumer group (each entry goes to one replica per endpoint),
and lease what they read in the `due` set; a replica that is killed leaves leases that run out, and the
others take its deliveries over. No event is held in memory before it is stored: the dispatcher polls
(and is woken by this process's own appends), so `leases_on_append` is False.
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

from onprem.relay import redis_scripts as lua
from onprem.relay.metrics import StoreGauges
from onprem.relay.redis_batch import ScriptBatcher
from onprem.relay.settings import RedisSettings
from onprem.relay.sqlite_ops import DEAD, DELIVERED, DeadLetter, Delivery, NewEvent, Outcome
from onprem.relay.store import StoreError

PURGE_CHUNK = 5000
LOCAL_URL = "redis://127.0.0.1:6379/0"  # a standalone relay whose settings name no Redis
MAX_CONNECTIONS = 64  # per replica; each request holds one for a single script call


def _field(fields: list[bytes], index: int) -> bytes:
    return fields[index]  # fields are [b"id", id, b"source", source, b"at", at, b"body", body]


class RedisStore:
    """Events and deliveries in Redis, for relays that scale out. Every method may raise StoreError."""

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
        p = "{" + settings.key_prefix + "}"
        self._events, self._seq, self._disabled_key = f"{p}:events", f"{p}:seq", f"{p}:disabled"
        self._prefix = p
        self._disabled: set[str] = set()
        self._batch: ScriptBatcher | None = None
        self._on_batch = on_batch

    def _keys(self, endpoint: str, *kinds: str) -> list[str]:
        return [f"{self._prefix}:{kind}:{endpoint}" for kind in kinds]

    @property
    def disabled(self) -> frozenset[str]:
        """Endpoints disabled by a 410 (kept in Redis, shared by every replica)."""
        return frozenset(self._disabled)

    async def open(self) -> None:
        """Connect, create the endpoints' consumer groups, read the disabled set. Raises StoreError."""
        if self._client is None:
            # Bounded and blocking: a burst of requests waits for a connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=MAX_CONNECTIONS,
                timeout=10,
                username=self._settings.username,
                password=self._password(),
                socket_timeout=10,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
            self._client = aioredis.Redis(connection_pool=pool)
        scripts = {name: getattr(lua, name) for name in lua.SCRIPTS}
        self._batch = ScriptBatcher(self._client, scripts, on_batch=self._on_batch)
        try:
            await self._client.ping()
            await self._batch.load()
            for name in self._endpoints:
                try:  # '$': an endpoint gets the events stored after it was configured
                    await self._client.xgroup_create(self._events, name, id="$", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
            self._disabled = await self._read_disabled()
        except (RedisError, OSError) as exc:
            raise StoreError(f"cannot use Redis at {self._url}: {exc}") from None

    def _password(self) -> str | None:
        path = self._settings.password_file
        if path is None:
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise StoreError(
                f"relay.store.redis.password_file: cannot read {path} ({exc.strerror})"
            ) from None

    async def close(self) -> None:
        """Send what is queued, then close the connections."""
        if self._batch is not None:
            await self._batch.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _read_disabled(self) -> set[str]:
        if self._client is None:
            raise StoreError("the store is closed")
        names = cast(list[bytes], await self._client.hkeys(self._disabled_key))
        return {name.decode() for name in names}

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        if self._client is None or self._batch is None:
            raise StoreError("the store is closed")
        return await self._batch.call(script, keys, args)

    async def append(self, event: NewEvent) -> int | None:
        """Store `event` for every endpoint; its sequence number, or None for a duplicate."""
        dedup = event.dedup_key is not None and self._window_ms > 0
        keys = [self._events, self._seq, f"{self._prefix}:dedup:{event.dedup_key if dedup else ''}"]
        window = str(self._window_ms) if dedup else ""
        args = [window, event.event_id, event.source, repr(event.received_at), event.body]
        seq = await self._run("APPEND", keys, args)
        return None if seq is None else int(seq)

    async def claim_due(self, limit: int) -> list[Delivery]:
        """Lease up to `limit` deliveries: due retries, expired leases, then entries no replica read yet."""
        try:
            self._disabled = await self._read_disabled()
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis: {exc}") from None
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
        keys = [self._events, *self._keys(name, "due", "attempts")]
        args = [name, self._consumer, repr(now), repr(now + self._lease), limit]
        return [
            Delivery(
                int(seq),
                _field(fields, 1).decode(),
                name,
                int(attempts),
                float(_field(fields, 5)),
                _field(fields, 3).decode(),
                _field(fields, 7),
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
            keys = [self._events, *self._keys(o.endpoint, "due", "attempts", "dead", "deadinfo")]
            calls.append(
                self._run("OUTCOME", keys, [o.endpoint, o.seq, state, o.attempts, repr(o.next_at), info])
            )
        await asyncio.gather(*calls)

    async def disable_endpoint(self, name: str, reason: str) -> int:
        """Disable `name` for every replica and dead-letter its deliveries in progress; returns how many."""
        self._disabled.add(name)
        now = self._clock()
        keys = [*self._keys(name, "due", "attempts", "dead", "deadinfo"), self._disabled_key]
        info = json.dumps({"since": now, "reason": reason})
        return int(await self._run("DISABLE", keys, [name, info, repr(now), reason]))

    async def gauges(self) -> StoreGauges:
        """Undelivered and dead-lettered deliveries over all endpoints, and the oldest undelivered age."""
        pending = dead = 0
        oldest: int | None = None
        for name in self._endpoints:
            count, dead_count, first = await self._run(
                "GAUGES", [self._events, *self._keys(name, "dead")], [name]
            )
            pending, dead = pending + int(count), dead + int(dead_count)
            if first is not None and (oldest is None or int(first) < oldest):
                oldest = int(first)
        age = 0.0
        if oldest is not None:
            received = await self._received_at([oldest])
            if received:
                age = max(0.0, self._clock() - received[oldest])
        return StoreGauges(pending=pending, oldest_pending_age_seconds=age, dead=dead)

    async def _entries(self, seqs: Sequence[int]) -> dict[int, list[bytes]]:
        if self._client is None:
            raise StoreError("the store is closed")
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for seq in seqs:
                    pipe.xrange(self._events, f"{seq}-0", f"{seq}-0")
                found = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis: {exc}") from None
        out: dict[int, list[bytes]] = {}
        for seq, entries in zip(seqs, found, strict=True):
            if entries:
                fields = entries[0][1]
                out[seq] = [v for kv in fields.items() for v in kv]
        return out

    async def _received_at(self, seqs: Sequence[int]) -> dict[int, float]:
        return {seq: float(_field(f, 5)) for seq, f in (await self._entries(seqs)).items()}

    async def purge(self) -> int:
        """Trim delivered entries older than the retention, never one any endpoint still needs (the
        de-duplication keys expire by themselves). Returns how many entries were deleted."""
        cutoff = self._clock() - self._retention
        total = 0
        while True:
            deleted = int(
                await self._run("PURGE", [self._events], [repr(cutoff), PURGE_CHUNK, *self._endpoints])
            )
            total += deleted
            if deleted < PURGE_CHUNK:
                return total

    async def probe(self) -> None:
        """A tiny write. Raises StoreError when Redis does not accept writes."""
        if self._client is None:
            raise StoreError("the store is closed")
        try:
            await self._client.set(f"{self._prefix}:health", repr(self._clock()))
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis: {exc}") from None

    async def list_dead(self, endpoint: str | None, limit: int) -> list[DeadLetter]:
        """Dead-lettered deliveries, oldest first per endpoint (for `onprem relay dlq list`)."""
        if self._client is None:
            raise StoreError("the store is closed")
        rows: list[DeadLetter] = []
        for name in [endpoint] if endpoint else self._endpoints:
            dead_key, info_key = self._keys(name, "dead", "deadinfo")
            try:
                seqs = [
                    int(s)
                    for s in cast(list[bytes], await self._client.zrange(dead_key, 0, limit - len(rows) - 1))
                ]
                infos = await self._client.hmget(info_key, [str(s) for s in seqs]) if seqs else []
            except (RedisError, OSError) as exc:
                raise StoreError(f"redis: {exc}") from None
            entries = await self._entries(seqs)
            for seq, raw in zip(seqs, infos, strict=True):
                fields, info = entries.get(seq), json.loads(raw or "{}")
                if fields is None:
                    continue
                rows.append(
                    DeadLetter(
                        _field(fields, 1).decode(),
                        name,
                        int(info.get("attempts", 0)),
                        float(_field(fields, 5)),
                        float(info.get("updated_at", 0.0)),
                        str(info.get("error", "")),
                        len(_field(fields, 7)),
                    )
                )
            if len(rows) >= limit:
                break
        return rows

    async def replay(self, endpoint: str | None, event_ids: Sequence[str]) -> int:
        """Requeue dead letters (all, one endpoint's, or those of `event_ids`) with a fresh attempt budget
        and re-enable their endpoints; returns how many (for `onprem relay replay`)."""
        now, total = self._clock(), 0
        for name in [endpoint] if endpoint else self._endpoints:
            keys = [*self._keys(name, "due", "attempts", "dead", "deadinfo"), self._disabled_key]
            seqs: list[int] = []
            if event_ids:
                seqs = await self._seqs_of(name, set(event_ids))
                if not seqs:
                    continue
            total += int(await self._run("REPLAY", keys, [name, repr(now), *seqs]))
        try:
            self._disabled = await self._read_disabled()
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis: {exc}") from None
        return total

    async def _seqs_of(self, endpoint: str, event_ids: set[str]) -> list[int]:
        if self._client is None:
            raise StoreError("the store is closed")
        try:
            dead = cast(list[bytes], await self._client.zrange(self._keys(endpoint, "dead")[0], 0, -1))
            seqs = [int(s) for s in dead]
        except (RedisError, OSError) as exc:
            raise StoreError(f"redis: {exc}") from None
        entries = await self._entries(seqs)
        return [seq for seq, fields in entries.items() if _field(fields, 1).decode() in event_ids]
