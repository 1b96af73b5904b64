"""The pool of API keys: weighted round-robin over the keys usable now, and their health."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Sequence

from attrs import define, field

from gpool.errors import NoKeyAvailable
from gpool.keys.classify import Effect, Verdict
from gpool.redact import mask_key

__all__ = ["KeyPool", "PoolKey"]

log = logging.getLogger("gpool.keys")

#: Bucket used for calls that are not counted per model (listing models).
NO_MODEL = ""


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
    failures: int = 0  # consecutive transient failures
    # A stable name for the key in shared and persisted state: never the secret itself.
    key_id: str = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.key_id = hashlib.sha256(self.secret.encode()).hexdigest()[:16]

    @property
    def masked(self) -> str:
        return mask_key(self.secret)


def _schedule(weights: Sequence[int]) -> list[int]:
    """Interleave key indexes so that each appears ``weight`` times, spread evenly."""
    if all(w == 1 for w in weights):
        return list(range(len(weights)))
    slots = [((n + 0.5) / w, i) for i, w in enumerate(weights) for n in range(w)]
    slots.sort()
    return [i for _, i in slots]


class KeyPool:
    """Chooses keys and records what happened to them. Pure: no I/O, an injected clock."""

    def __init__(self, keys: Sequence[PoolKey], *, clock: Callable[[], float] = time.time) -> None:
        if not keys:
            raise ValueError("a key pool needs at least one key")
        self.keys = list(keys)
        self._clock = clock
        self._order = _schedule([k.weight for k in self.keys])
        self._cursor = 0
        self._by_id = {k.key_id: k for k in self.keys}

    def by_id(self, key_id: str) -> PoolKey | None:
        return self._by_id.get(key_id)

    def acquire(
        self, model: str, exclude: Collection[PoolKey] = (), *, pin: PoolKey | None = None
    ) -> PoolKey:
        """The next usable key for ``model`` in round-robin order, skipping ``exclude``.

        With ``pin`` (the key that owns a file or cache the request uses) only that key will
        do. Raises ``NoKeyAvailable`` with ``retry_after`` set to the soonest cooldown end.
        """
        now = self._clock()
        if pin is not None:
            return self._pinned(pin, model, exclude, now)
        order = self._order
        size = len(order)
        start = self._cursor
        for step in range(size):
            key = self.keys[order[(start + step) % size]]
            if key.disabled is None and key not in exclude and key.cooldowns.get(model, 0.0) <= now:
                self._cursor = (start + step + 1) % size
                return key
        raise self._exhausted(model, exclude, now)

    def _pinned(
        self, key: PoolKey, model: str, exclude: Collection[PoolKey], now: float
    ) -> PoolKey:
        until = key.cooldowns.get(model, 0.0)
        if key.disabled is None and key not in exclude and until <= now:
            return key
        if key.disabled is not None or key in exclude:
            why = "is disabled" if key.disabled is not None else "has already failed this request"
            return_after = None
        else:
            why, return_after = "is cooling down", max(1.0, until - now)
        raise NoKeyAvailable(
            f"the API key that owns a resource this request uses {why}", retry_after=return_after
        )

    def _exhausted(self, model: str, exclude: Collection[PoolKey], now: float) -> NoKeyAvailable:
        live = [k for k in self.keys if k.disabled is None]
        # Keys already tried by this request count too: their cooldown is what the client waits.
        ends = [k.cooldowns[model] for k in live if k.cooldowns.get(model, 0.0) > now]
        retry_after = max(1.0, min(ends) - now) if ends else None
        if not live:
            why = "every API key is disabled"
        elif len(ends) == len(live):
            why = f"every API key is cooling down for {model or 'this call'}"
        else:
            why = "every usable API key has already failed this request"
            return NoKeyAvailable(f"no API key is available: {why}", tried_out=True)
        return NoKeyAvailable(f"no API key is available: {why}", retry_after=retry_after)

    def record_success(self, key: PoolKey, model: str) -> None:
        key.failures = 0

    def record_failure(self, key: PoolKey, model: str, verdict: Verdict) -> None:
        """Apply what ``verdict`` means for ``key``; the single place key health changes."""
        if verdict.effect is Effect.DISABLE:
            if key.disabled is None:
                log.warning("key %s disabled: %s", key.label, verdict.reason)
            key.disabled = verdict.reason
        elif verdict.effect is Effect.COOLDOWN:
            until = self._clock() + verdict.cooldown
            key.cooldowns[model] = max(until, key.cooldowns.get(model, 0.0))
            log.info(
                "key %s cooling down for %s: %s, %.0fs",
                key.label,
                model or "model listing",
                verdict.reason,
                verdict.cooldown,
            )
        elif verdict.effect is Effect.TRANSIENT:
            key.failures += 1

    def enable(self, key: PoolKey) -> None:
        """Put a disabled key back in service (for operators and recovery probes)."""
        key.disabled = None
        key.failures = 0
        key.cooldowns.clear()

    def usable_count(self, model: str) -> int:
        now = self._clock()
        return sum(
            1 for k in self.keys if k.disabled is None and k.cooldowns.get(model, 0.0) <= now
        )
