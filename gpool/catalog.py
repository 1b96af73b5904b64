"""The upstream's model catalog: fetched through the pool, cached, filtered and aliased."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from gpool.errors import RequestError, UpstreamFailure
from gpool.keys import Effect, KeyPool, PoolKey, Verdict
from gpool.keys.pool import NO_MODEL
from gpool.model_policy import ModelPolicy
from gpool.upstream import Upstream

__all__ = ["ModelCatalog"]

log = logging.getLogger("gpool.catalog")

Model = dict[str, Any]

_PAGE = "1000"
#: After a failed fetch with nothing cached, wait this long before asking upstream again.
_NEGATIVE_TTL = 10.0


class ModelCatalog:
    """Every model the upstream lists (all pages), refreshed after ``ttl`` seconds."""

    def __init__(
        self,
        upstream: Upstream,
        pool: KeyPool,
        policy: ModelPolicy,
        *,
        max_attempts: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._pool = pool
        self._policy = policy
        self._max_attempts = max_attempts
        self._ttl = ttl
        self._clock = clock
        self._models: dict[str, Model] | None = None  # bare id -> Model, upstream order
        self._fetched_at = 0.0
        self._failed_at: float | None = None
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()

    async def upstream_models(self) -> dict[str, Model]:
        """The raw catalog; stale entries are served while a refresh runs in the background."""
        now = self._clock()
        if self._models is not None:
            if now - self._fetched_at > self._ttl and (
                self._refresh is None or self._refresh.done()
            ):
                self._refresh = asyncio.create_task(self._load_quietly())
            return self._models
        async with self._lock:
            return self._models if self._models is not None else await self._load()

    async def knows(self, model: str) -> bool | None:
        """Whether the upstream lists ``model``; None when the catalog cannot be had."""
        failed_recently = (
            self._failed_at is not None and self._clock() - self._failed_at < _NEGATIVE_TTL
        )
        if self._models is None and failed_recently:
            return None
        try:
            return model in await self.upstream_models()
        except RequestError as exc:
            log.warning("model catalog unavailable, not checking %s: %s", model, exc.message)
            return None

    async def visible_models(self) -> list[Model]:
        """What clients see: allowed models under their own names, then aliases."""
        models = await self.upstream_models()
        visible = [m for bare, m in models.items() if self._policy.allowed(bare)]
        for alias, target in self._policy.aliases.items():
            if target in models:
                entry = copy.deepcopy(models[target])
                entry["name"] = f"models/{alias}"
                entry["displayName"] = alias
                visible.append(entry)
        return visible

    async def _load_quietly(self) -> None:
        try:
            await self._load()
        except RequestError as exc:
            log.warning("model catalog refresh failed: %s", exc.message)

    async def _load(self) -> dict[str, Model]:
        tried: list[PoolKey] = []
        while True:
            key = await self._pool.acquire(NO_MODEL, exclude=tried)
            tried.append(key)
            try:
                models = await self._fetch_all(key)
            except UpstreamFailure as exc:
                self._pool.record_failure(key, NO_MODEL, exc.verdict)
                if not exc.retryable or len(tried) >= self._max_attempts:
                    self._failed_at = self._clock()
                    raise
                continue
            await self._pool.record_success(key, NO_MODEL)
            self._models = models
            self._fetched_at = self._clock()
            self._failed_at = None
            log.info("model catalog loaded: %d models", len(models))
            return models

    async def _fetch_all(self, key: PoolKey) -> dict[str, Model]:
        models: dict[str, Model] = {}
        token = ""
        while True:
            query = [("pageSize", _PAGE)] + ([("pageToken", token)] if token else [])
            async with self._upstream.open(key, "GET", "/v1beta/models", query=query) as answer:
                raw = answer.body if answer.body is not None else await answer.raw.read()
            if answer.status != 200:
                message = f"listing models failed upstream with status {answer.status}"
                raise UpstreamFailure(message, Verdict(Effect.NONE, retry=False, reason=message))
            page = json.loads(raw)
            for model in page.get("models", []):
                models[model["name"].removeprefix("models/")] = model
            token = page.get("nextPageToken", "")
            if not token:
                return models
