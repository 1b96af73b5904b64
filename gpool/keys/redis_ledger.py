"""``state: redis://host:port/db``: limits, key health and resource owners shared by instances.

Layout, under ``prefix`` (the braces keep one key's entries in one Redis Cluster slot):

- ``gpool:{key_id}:health``: hash ``disabled``, ``ejected_until``, ``ejections`` and
  ``cd:<model>`` cooldown ends; kept while disabled, else until its last end.
- ``gpool:{key_id}:rpm:<model>`` / ``:tpm:<model>``: sorted sets of the last minute's
  requests and token counts by time, expiring after 120 s.
- ``gpool:{key_id}:day:<day end>:<model>``: the Pacific day's count, gone after the day.
- ``gpool:resources``: hash resource name -> ``[key_id, client]``.
- channel ``gpool:health``: a key id whose shared health changed.

A Redis outage is never a gpool outage: every call falls back to the local state that is
kept alongside (the MemoryLedger behaviour), and a watcher resyncs once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from itertools import count
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from gpool.keys.classify import next_pacific_midnight
from gpool.keys.ledger import MemoryLedger
from gpool.keys.limits import WINDOW, Limit
from gpool.keys.redis_scripts import PUBLISH_HEALTH, RESERVE
from gpool.resources import MemoryResources, ResourceOwner

if TYPE_CHECKING:
    from gpool.keys.pool import KeyPool, PoolKey

__all__ = ["RedisLedger", "RedisResources"]

log = logging.getLogger("gpool.state")

T = TypeVar("T")


class _Runner(Protocol):
    def __call__(self, call: Callable[[], Awaitable[T]]) -> Awaitable[T]: ...


class _Offline(Exception):
    """Redis is not reachable now: use the local state."""


class RedisLedger(MemoryLedger):
    """Shared state in Redis, with this process's own view kept for outages."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gpool",
        timeout: float = 1.0,
        retry_every: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        # Short timeouts and one immediate reconnect: a dead Redis must not stall requests
        # (a stopped one refuses at once; the timeout is for a hung or distant one).
        self._client: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._prefix, self._retry_every, self._clock = prefix, retry_every, clock
        self._channel = f"{prefix}:health"
        self._reserve = self._client.register_script(RESERVE)
        self._publish = self._client.register_script(PUBLISH_HEALTH)
        self._member = f"{uuid.uuid4().hex[:12]}.%d"  # unique window entries
        self._seq = count()
        self._online = True
        self._pool: KeyPool | None = None
        self._dirty: dict[str, PoolKey] = {}  # health not yet written
        self._push_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.shared = RedisResources(self._client, self._run, prefix)
        self.resources = self.shared

    @property
    def online(self) -> bool:
        return self._online

    async def start(self, pool: KeyPool) -> None:
        self._pool = pool
        with contextlib.suppress(_Offline):
            await self._run(self._resync)
        self._spawn(self._watch())

    async def close(self) -> None:
        watchers = list(self._tasks)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await self.flush()
        await self._client.aclose()

    async def reserve(self, key: PoolKey, model: str, limit: Limit | None, now: float) -> float:
        try:
            kind, value = await self._run(lambda: self._reserve_shared(key, model, limit, now))
        except _Offline:
            return await super().reserve(key, model, limit, now)
        if kind == "ok":
            if limit is not None:
                self.windows.take(key.key_id, model, now)
            return 0.0
        # Another instance may have changed this key: stop offering it here at once.
        if kind == "disabled":
            key.disabled = value
            return math.inf
        if kind == "limit":
            return float(value)
        end = float(value)
        if kind == "ejected":
            key.ejected_until = max(key.ejected_until, end)
        else:
            key.cooldowns[model] = max(key.cooldowns.get(model, 0.0), end)
        return end - now

    async def _reserve_shared(
        self, key: PoolKey, model: str, limit: Limit | None, now: float
    ) -> tuple[str, str]:
        day_end = next_pacific_midnight(now)
        base = self._key(key.key_id)
        keys = [f"{base}:health", f"{base}:rpm:{model}", f"{base}:tpm:{model}"]
        keys.append(f"{base}:day:{day_end:.0f}:{model}")
        limits = [limit.rpm, limit.tpm, limit.rpd] if limit is not None else [None] * 3
        args = [repr(now), repr(now - WINDOW), model, "1" if limit is not None else ""]
        args += ["" if n is None else str(n) for n in limits]
        args += [repr(day_end), str(math.ceil(day_end - now) + 60), self._unique()]
        kind, value = await self._reserve(keys=keys, args=args)
        return str(kind), str(value)

    async def add_tokens(self, key: PoolKey, model: str, tokens: int, now: float) -> None:
        await super().add_tokens(key, model, tokens, now)
        window = f"{self._key(key.key_id)}:tpm:{model}"

        async def add() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.zadd(window, {f"{self._unique()}:{tokens}": now})
                pipe.expire(window, 120)
                await pipe.execute()

        with contextlib.suppress(_Offline):
            await self._run(add)

    def health_changed(self, key: PoolKey) -> None:
        self._dirty[key.key_id] = key
        if self._online:
            self._spawn(self.flush())

    async def flush(self) -> None:
        """Write the health changes not yet in Redis (all of them after an outage)."""
        with contextlib.suppress(_Offline):
            await self._run(self._push_dirty)

    async def _push_dirty(self) -> None:
        async with self._push_lock:
            keys, self._dirty = self._dirty, {}
            if not keys:
                return
            now = self._clock()
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for key in keys.values():
                        args: list[str | float] = [now, self._channel, key.key_id]
                        args += [key.disabled or "", key.ejected_until, key.ejections]
                        for model, end in key.cooldowns.items():
                            args += [model, end]
                        health = f"{self._key(key.key_id)}:health"
                        await self._publish(keys=[health], args=args, client=pipe)
                    await pipe.execute()
            except BaseException:
                for key_id, key in keys.items():
                    self._dirty.setdefault(key_id, key)
                raise

    async def _reload(self, key_ids: Iterable[str]) -> None:
        """Take the shared health of these keys (not of those with changes still to write)."""
        assert self._pool is not None  # noqa: S101 - set by start()
        keys = [k for k in map(self._pool.by_id, key_ids) if k is not None]
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(f"{self._key(key.key_id)}:health")
            rows: list[dict[str, str]] = await pipe.execute()
        for key, health in zip(keys, rows, strict=True):
            if key.key_id in self._dirty:
                continue  # changed here meanwhile: our own write and its echo will follow
            key.disabled = health.get("disabled")
            key.ejected_until = float(health.get("ejected_until", 0.0))
            key.ejections = int(health.get("ejections", 0))
            key.cooldowns = {f[3:]: float(v) for f, v in health.items() if f.startswith("cd:")}

    async def _resync(self) -> None:
        """Write what changed here, then take what is shared: at start and after an outage."""
        assert self._pool is not None  # noqa: S101 - set by start()
        await self._push_dirty()
        await self.shared.resync()
        await self._reload(k.key_id for k in self._pool.keys)
        if not self._online:
            self._online = True
            log.info("redis reachable again, shared state resynced")
            if self._dirty:  # changed while we resynced
                self._spawn(self.flush())

    async def _watch(self) -> None:
        """Follow health changes made elsewhere; while Redis is away, retry every second."""
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._resync()  # after subscribing, so that no change is missed
                    while self._online:
                        message = await pubsub.get_message(True, timeout=self._retry_every)
                        if message is not None:
                            await self._reload([message["data"]])
            except (RedisError, OSError) as exc:
                self._went_offline(exc)
            await asyncio.sleep(self._retry_every)

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` against Redis, or ``_Offline`` (logged once) when Redis is away."""
        if not self._online:
            raise _Offline
        try:
            return await call()
        except (RedisError, OSError) as exc:
            self._went_offline(exc)
            raise _Offline from exc

    def _went_offline(self, exc: BaseException) -> None:
        if self._online:
            self._online = False
            log.warning("redis unreachable, serving on local state: %s", exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("shared state task failed", exc_info=exc)

    def _key(self, key_id: str) -> str:
        return f"{self._prefix}:{{{key_id}}}"

    def _unique(self) -> str:
        return self._member % next(self._seq)


class RedisResources:
    """Resource owners in one Redis hash, mirrored locally to serve through an outage."""

    def __init__(self, client: Redis, run: _Runner, prefix: str) -> None:
        self._client, self._run = client, run
        self._hash = f"{prefix}:resources"
        self._local = MemoryResources()
        self._pending: dict[str, ResourceOwner | None] = {}  # changed during an outage

    async def owner(self, name: str) -> ResourceOwner | None:
        try:
            raw = await self._run(lambda: self._client.hget(self._hash, name))
        except _Offline:
            return await self._local.owner(name)
        return None if raw is None else _owner(raw)

    async def remember(self, name: str, owner: ResourceOwner) -> None:
        await self._local.remember(name, owner)
        await self._write(name, owner)

    async def forget(self, name: str) -> None:
        await self._local.forget(name)
        await self._write(name, None)

    async def names_for(self, client: str, prefix: str) -> list[tuple[str, ResourceOwner]]:
        match = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"  # a literal prefix

        async def scan() -> list[tuple[str, ResourceOwner]]:
            found = self._client.hscan_iter(self._hash, match=match, count=500)
            return [(name, _owner(raw)) async for name, raw in found]

        try:
            owned = await self._run(scan)
        except _Offline:
            return await self._local.names_for(client, prefix)
        return [(name, owner) for name, owner in owned if owner.client == client]

    async def resync(self) -> None:
        """Write the changes made during an outage, then mirror the shared map."""
        pending, self._pending = self._pending, {}
        for name, owner in pending.items():
            await self._send(name, owner)
        self._local = MemoryResources()
        for shared, raw in (await self._client.hgetall(self._hash)).items():
            await self._local.remember(str(shared), _owner(raw))

    async def _write(self, name: str, owner: ResourceOwner | None) -> None:
        try:
            await self._run(lambda: self._send(name, owner))
        except _Offline:
            self._pending[name] = owner

    async def _send(self, name: str, owner: ResourceOwner | None) -> None:
        if owner is None:
            await self._client.hdel(self._hash, name)
        else:
            await self._client.hset(self._hash, name, json.dumps([owner.key_id, owner.client]))


def _owner(raw: Any) -> ResourceOwner:
    key_id, client = json.loads(raw)
    return ResourceOwner(str(key_id), str(client))
