"""Where the pool's counts and health live: this process (memory), a file, or Redis.

The pool decides; the ledger keeps score. ``reserve`` is the one call on the hot path:
it checks a key's declared limits and counts the request in one step, so that a shared
ledger can make that step atomic across processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gpool.keys.limits import Limit, Windows
from gpool.resources import MemoryResources, ResourceMap

if TYPE_CHECKING:
    from gpool.keys.pool import KeyPool, PoolKey

__all__ = ["Ledger", "MemoryLedger"]


class Ledger(Protocol):
    resources: ResourceMap

    async def start(self, pool: KeyPool) -> None:
        """Load what was kept (disabled keys, cooldowns, day counts) into ``pool``."""

    async def close(self) -> None: ...

    async def reserve(self, key: PoolKey, model: str, limit: Limit | None, now: float) -> float:
        """Count one request on ``key`` if ``limit`` has room: 0.0, else seconds to wait."""

    async def add_tokens(self, key: PoolKey, model: str, tokens: int, now: float) -> None: ...

    def room(self, key: PoolKey, model: str, limit: Limit, now: float) -> float:
        """The unused share of the tightest limit (1 idle, 0 full): a local estimate."""

    def health_changed(self, key: PoolKey) -> None:
        """``key`` was disabled, enabled, cooled down or ejected: keep or share that."""


class MemoryLedger:
    """Everything in this process; forgotten on restart (``state: memory``)."""

    def __init__(self) -> None:
        self.windows = Windows()
        self.resources: ResourceMap = MemoryResources()

    async def start(self, pool: KeyPool) -> None:
        return None

    async def close(self) -> None:
        return None

    async def reserve(self, key: PoolKey, model: str, limit: Limit | None, now: float) -> float:
        if limit is not None:
            wait = self.windows.wait(key.key_id, model, limit, now)
            if wait > 0:
                return wait
            self.windows.take(key.key_id, model, now)
        return 0.0

    async def add_tokens(self, key: PoolKey, model: str, tokens: int, now: float) -> None:
        self.windows.add_tokens(key.key_id, model, tokens, now)

    def room(self, key: PoolKey, model: str, limit: Limit, now: float) -> float:
        return self.windows.room(key.key_id, model, limit, now)

    def health_changed(self, key: PoolKey) -> None:
        return None
