"""How hard the pool reacts to failures: backoff, ejection with a cap, and a retry budget."""

from __future__ import annotations

import time
from collections.abc import Callable

from attrs import frozen

__all__ = ["HealthPolicy", "RetryBudget"]


@frozen
class HealthPolicy:
    backoff_base: float = 2.0  # 429 with no delay in it: base x 2^(n-1) seconds...
    backoff_cap: float = 300.0  # ...up to this
    eject_after: int = 3  # consecutive transient failures that eject a key
    eject_base: float = 30.0  # an ejection lasts base x (how many times in a row)
    max_ejected: float = 0.5  # share of the keys that may be ejected at once

    def backoff(self, strikes: int) -> float:
        """The cooldown after ``strikes`` 429s in a row that named no delay."""
        return min(self.backoff_cap, self.backoff_base * 2.0 ** max(0, strikes - 1))


class RetryBudget:
    """Retries may use at most ``ratio`` of the requests seen in the last ``window`` seconds,
    plus ``min_per_second`` so a quiet gateway can still fail over (Finagle's design).

    A storm of 429s then cannot multiply the load it puts on the upstream.
    """

    def __init__(
        self,
        ratio: float,
        min_per_second: float,
        *,
        window: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ratio = ratio
        self._floor = min_per_second * window
        self._window = window
        self._clock = clock
        self._buckets: dict[int, list[int]] = {}  # second -> [requests, retries]

    def _bucket(self) -> list[int]:
        now = int(self._clock())
        bucket = self._buckets.get(now)
        if bucket is None:
            bucket = self._buckets[now] = [0, 0]
            for second in [s for s in self._buckets if s <= now - self._window]:
                del self._buckets[second]
        return bucket

    def request(self) -> None:
        """Count a new request (not a retry)."""
        self._bucket()[0] += 1

    def try_retry(self) -> bool:
        """Spend one retry if the budget allows it."""
        bucket = self._bucket()
        requests = sum(b[0] for b in self._buckets.values())
        retries = sum(b[1] for b in self._buckets.values())
        if retries >= self._floor + self._ratio * requests:
            return False
        bucket[1] += 1
        return True
