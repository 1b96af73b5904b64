"""Recovery probes: disabled keys are tried again in the background, and come back if fine."""

from __future__ import annotations

import asyncio
import logging

from gpool.errors import UpstreamFailure
from gpool.keys import KeyPool, PoolKey
from gpool.upstream import Upstream

__all__ = ["RecoveryProbe"]

log = logging.getLogger("gpool.recovery")


class RecoveryProbe:
    """Every ``interval`` seconds, a cheap call (a one-model listing) with each disabled key."""

    def __init__(
        self, pool: KeyPool, upstream: Upstream, *, interval: float, concurrency: int
    ) -> None:
        self._pool = pool
        self._upstream = upstream
        self._interval = interval
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.probe_disabled()

    async def probe_disabled(self) -> list[PoolKey]:
        """Probe every disabled key once; return the keys that came back."""
        disabled = [k for k in self._pool.keys if k.disabled is not None]
        results = await asyncio.gather(*(self._probe(k) for k in disabled))
        return [key for key, ok in zip(disabled, results, strict=True) if ok]

    async def _probe(self, key: PoolKey) -> bool:
        async with self._slots:
            try:
                async with self._upstream.open(
                    key, "GET", "/v1beta/models", query=[("pageSize", "1")]
                ) as answer:
                    ok = answer.status == 200
            except UpstreamFailure as exc:
                log.debug("key %s still failing its probe: %s", key.label, exc.message)
                return False
        if ok and key.disabled is not None:
            log.info(
                "key %s is back in service: its probe succeeded (was: %s)", key.label, key.disabled
            )
            self._pool.enable(key)
        return ok
