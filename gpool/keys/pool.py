"""The pool of API keys: which key serves a request now, and what happened to each key."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Literal

from attrs import define, field

from gpool.errors import CapacityExhausted, NoKeyAvailable
from gpool.keys.classify import Effect, Verdict
from gpool.keys.health import HealthPolicy
from gpool.keys.ledger import Ledger, MemoryLedger
from gpool.keys.limits import LimitTable
from gpool.redact import mask_key

__all__ = ["NO_MODEL", "KeyPool", "PoolKey", "Strategy"]

log = logging.getLogger("gpool.keys")

#: Bucket used for calls that are not counted per model (listing models).
NO_MODEL = ""

Strategy = Literal["round_robin", "least_used", "weighted"]


@define(eq=False)
class PoolKey:
    """One API key and what the pool knows about it now."""

    index: int
    secret: str = field(repr=False)
    label: str  # the operator's name for it, or its masked form; safe to log
    proxy: str | None = None
    weight: int = 1
    disabled: str | None = None  # why, while disabled
    cooldowns: dict[str, float] = field(factory=dict)  # model -> wall-clock end
    strikes: dict[str, int] = field(factory=dict)  # model -> 429s in a row with no delay
    failures: int = 0  # consecutive transient failures
    ejected_until: float = 0.0
    ejections: int = 0  # ejections in a row, with no success in between
    # A stable name for the key in shared and persisted state: never the secret itself.
    key_id: str = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.key_id = hashlib.sha256(self.secret.encode()).hexdigest()[:16]

    @property
    def masked(self) -> str:
        return mask_key(self.secret)

    def usable(self, model: str, now: float) -> bool:
        return (
            self.disabled is None
            and self.ejected_until <= now
            and self.cooldowns.get(model, 0.0) <= now
        )


def _schedule(weights: Sequence[int]) -> list[int]:
    """Interleave key indexes so that each appears ``weight`` times, spread evenly."""
    if all(w == 1 for w in weights):
        return list(range(len(weights)))
    slots = [((n + 0.5) / w, i) for i, w in enumerate(weights) for n in range(w)]
    slots.sort()
    return [i for _, i in slots]


class KeyPool:
    """Chooses keys under their declared limits and records what happened to them.

    The decisions are pure, with an injected clock; the ledger keeps the counts.
    """

    def __init__(
        self,
        keys: Sequence[PoolKey],
        *,
        clock: Callable[[], float] = time.time,
        limits: LimitTable | None = None,
        strategy: Strategy = "round_robin",
        health: HealthPolicy | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        if not keys:
            raise ValueError("a key pool needs at least one key")
        self.keys = list(keys)
        self.limits = limits or LimitTable({})
        self.health = health or HealthPolicy()
        self.ledger: Ledger = ledger or MemoryLedger()
        self._clock = clock
        self._strategy = strategy
        self._order = _schedule([k.weight for k in self.keys])
        self._cursor = 0
        self._by_id = {k.key_id: k for k in self.keys}

    def by_id(self, key_id: str) -> PoolKey | None:
        return self._by_id.get(key_id)

    async def acquire(
        self, model: str, exclude: Collection[PoolKey] = (), *, pin: PoolKey | None = None
    ) -> PoolKey:
        """A key for one attempt at ``model``, counted against its limits.

        With ``pin`` (the key that owns a file or cache the request uses) only that key will
        do. Raises ``CapacityExhausted`` when every healthy key is at its declared limits,
        ``NoKeyAvailable`` when none is healthy; both carry ``retry_after``.
        """
        now = self._clock()
        if pin is not None:
            candidates: Iterator[PoolKey] = iter([self._pinned(pin, model, exclude, now)])
        else:
            candidates = self._candidates(model, exclude, now)
        waits = []
        for key in candidates:
            wait = await self.ledger.reserve(
                key, model, self.limits.for_key(key.key_id, model), now
            )
            if wait <= 0:
                return key
            waits.append(wait)
        if waits:
            raise CapacityExhausted(
                f"every API key is at its declared limits for {model or 'this call'}",
                retry_after=max(1.0, min(waits)),
            )
        raise self._exhausted(model, exclude, now)

    def _candidates(
        self, model: str, exclude: Collection[PoolKey], now: float
    ) -> Iterator[PoolKey]:
        """Healthy keys in the order the strategy prefers them."""
        if self._strategy == "round_robin":
            order, size, start = self._order, len(self._order), self._cursor
            for step in range(size):
                key = self.keys[order[(start + step) % size]]
                if key.usable(model, now) and key not in exclude:
                    self._cursor = (start + step + 1) % size
                    yield key
            return
        healthy = [k for k in self.keys if k.usable(model, now) and k not in exclude]
        if self._strategy == "weighted":
            # Efraimidis-Spirakis: a weighted random order, no shared cursor to coordinate.
            healthy.sort(key=lambda k: random.random() ** (1.0 / k.weight), reverse=True)  # noqa: S311
        else:
            healthy.sort(key=lambda k: self._room(k, model, now), reverse=True)
        yield from healthy

    def _room(self, key: PoolKey, model: str, now: float) -> float:
        limit = self.limits.for_key(key.key_id, model)
        return 1.0 if limit is None else self.ledger.room(key, model, limit, now)

    def _pinned(
        self, key: PoolKey, model: str, exclude: Collection[PoolKey], now: float
    ) -> PoolKey:
        if key.usable(model, now) and key not in exclude:
            return key
        if key.disabled is not None or key in exclude:
            why = "is disabled" if key.disabled is not None else "has already failed this request"
            wait = None
        else:
            why = "is cooling down"
            wait = max(1.0, max(key.cooldowns.get(model, 0.0), key.ejected_until) - now)
        raise NoKeyAvailable(
            f"the API key that owns a resource this request uses {why}", retry_after=wait
        )

    def _exhausted(self, model: str, exclude: Collection[PoolKey], now: float) -> NoKeyAvailable:
        live = [k for k in self.keys if k.disabled is None]
        # Keys already tried by this request count too: their cooldown is what the client waits.
        ends = [
            max(k.cooldowns.get(model, 0.0), k.ejected_until)
            for k in live
            if not k.usable(model, now)
        ]
        retry_after = max(1.0, min(ends) - now) if ends else None
        if not live:
            why = "every API key is disabled"
        elif len(ends) == len(live):
            why = f"every API key is cooling down for {model or 'this call'}"
        else:
            why = "every usable API key has already failed this request"
            return NoKeyAvailable(f"no API key is available: {why}", tried_out=True)
        return NoKeyAvailable(f"no API key is available: {why}", retry_after=retry_after)

    async def record_success(self, key: PoolKey, model: str, tokens: int | None = None) -> None:
        key.failures = 0
        key.ejections = 0
        key.strikes.pop(model, None)
        if tokens:
            await self.ledger.add_tokens(key, model, tokens, self._clock())

    def record_failure(self, key: PoolKey, model: str, verdict: Verdict) -> None:
        """Apply what ``verdict`` means for ``key``; the single place key health changes."""
        now = self._clock()
        if verdict.effect is Effect.DISABLE:
            if key.disabled is None:
                log.warning("key %s disabled: %s", key.label, verdict.reason)
            key.disabled = verdict.reason
        elif verdict.effect is Effect.COOLDOWN:
            seconds = verdict.cooldown
            if verdict.backoff:
                strikes = key.strikes[model] = key.strikes.get(model, 0) + 1
                seconds = self.health.backoff(strikes)
            key.cooldowns[model] = max(now + seconds, key.cooldowns.get(model, 0.0))
            log.info(
                "key %s cooling down for %s: %s, %.0fs",
                key.label,
                model or "model listing",
                verdict.reason,
                seconds,
            )
        elif verdict.effect is Effect.TRANSIENT:
            key.failures += 1
            if key.failures < self.health.eject_after or not self._may_eject(now):
                return
            key.ejections += 1
            key.failures = 0
            seconds = self.health.eject_base * key.ejections
            key.ejected_until = now + seconds
            log.warning(
                "key %s ejected for %.0fs after repeated %s", key.label, seconds, verdict.reason
            )
        else:
            return
        self.ledger.health_changed(key)

    def _may_eject(self, now: float) -> bool:
        """The ejection cap: an outage of the upstream or our network must not empty the pool."""
        ejected = sum(1 for k in self.keys if k.ejected_until > now)
        return ejected + 1 <= self.health.max_ejected * len(self.keys)

    def enable(self, key: PoolKey) -> None:
        """Put a key back in service (for operators and recovery probes)."""
        key.disabled = None
        key.failures = 0
        key.ejections = 0
        key.ejected_until = 0.0
        key.cooldowns.clear()
        key.strikes.clear()
        self.ledger.health_changed(key)

    def usable_count(self, model: str) -> int:
        now = self._clock()
        return sum(1 for k in self.keys if k.usable(model, now))
