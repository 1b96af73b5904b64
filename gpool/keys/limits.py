"""Declared per-model limits (rpm, rpd, tpm) and the sliding windows that enforce them."""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterator, Mapping

from attrs import define, field, frozen

from gpool.keys.classify import next_pacific_midnight

__all__ = ["WINDOW", "Limit", "LimitTable", "Windows"]

#: How long a request or its tokens count against a per-minute limit: a minute, plus a
#: second for the time between counting a request here and the upstream receiving it,
#: so a request sent just as a slot frees never meets the upstream's own window.
WINDOW = 61.0
_MINUTE = WINDOW


@frozen
class Limit:
    rpm: int | None = None  # requests per minute
    rpd: int | None = None  # requests per Pacific day
    tpm: int | None = None  # tokens per minute, counted from usageMetadata

    def share(self, index: int, count: int) -> Limit:
        """Worker ``index``'s part of this limit when ``count`` processes split it."""

        def part(total: int | None) -> int | None:
            if total is None:
                return None
            return total // count + (1 if index < total % count else 0)

        return Limit(rpm=part(self.rpm), rpd=part(self.rpd), tpm=part(self.tpm))

    def merged(self, override: Limit) -> Limit:
        """This limit with the fields ``override`` sets replaced."""
        return Limit(
            rpm=override.rpm if override.rpm is not None else self.rpm,
            rpd=override.rpd if override.rpd is not None else self.rpd,
            tpm=override.tpm if override.tpm is not None else self.tpm,
        )


class LimitTable:
    """Limits per model (exact names or globs), with per-key overrides field by field."""

    def __init__(
        self,
        defaults: Mapping[str, Limit],
        overrides: Mapping[str, Mapping[str, Limit]] | None = None,
        *,
        share: tuple[int, int] | None = None,
    ) -> None:
        """``share=(index, count)``: this process enforces its part of every limit, for
        workers that keep no shared counts (a sqlite state file); Redis shares them exactly.
        """
        self._defaults = dict(defaults)
        self._overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self._share = share
        self._cache: dict[tuple[str, str], Limit | None] = {}
        tables = [self._defaults, *self._overrides.values()]
        #: Whether any answer's token count matters (a tpm limit somewhere).
        self.counts_tokens = any(lim.tpm is not None for t in tables for lim in t.values())

    def __bool__(self) -> bool:
        return bool(self._defaults or self._overrides)

    def for_key(self, key_id: str, model: str) -> Limit | None:
        cached = (key_id, model)
        if cached in self._cache:
            return self._cache[cached]
        base = _lookup(self._defaults, model)
        own = _lookup(self._overrides.get(key_id, {}), model)
        if own is not None:
            base = own if base is None else base.merged(own)
        if base is not None and self._share is not None:
            base = base.share(*self._share)
        self._cache[cached] = base
        return base


def _lookup(table: Mapping[str, Limit], model: str) -> Limit | None:
    if model in table:
        return table[model]
    for pattern, limit in table.items():
        if fnmatch.fnmatchcase(model, pattern):
            return limit
    return None


@define
class _Window:
    requests: deque[float] = field(factory=deque)  # start times in the last minute
    tokens: deque[tuple[float, int]] = field(factory=deque)  # (time, tokens), last minute
    token_sum: int = 0
    day_end: float = 0.0  # when the current Pacific day ends
    day_count: int = 0

    def expire(self, now: float) -> None:
        horizon = now - _MINUTE
        while self.requests and self.requests[0] <= horizon:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= horizon:
            self.token_sum -= self.tokens.popleft()[1]
        if now >= self.day_end:
            self.day_end = next_pacific_midnight(now)
            self.day_count = 0


class Windows:
    """Sliding one-minute windows and Pacific-day counters per (key, model). Pure."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, key_id: str, model: str, now: float) -> _Window:
        window = self._windows.get((key_id, model))
        if window is None:
            window = self._windows[(key_id, model)] = _Window()
        window.expire(now)
        return window

    def wait(self, key_id: str, model: str, limit: Limit, now: float) -> float:
        """Seconds until ``limit`` has room for one more request (0 when it has now)."""
        window = self._window(key_id, model, now)
        waits = [0.0]
        if limit.rpm == 0 or limit.tpm == 0:
            return _MINUTE  # a worker whose share of a small limit is nothing
        if limit.rpd == 0:
            return window.day_end - now
        if limit.rpm is not None and len(window.requests) >= limit.rpm:
            waits.append(window.requests[len(window.requests) - limit.rpm] + _MINUTE - now)
        if limit.tpm is not None and window.token_sum >= limit.tpm:
            waits.append(_token_wait(window, limit.tpm, now))
        if limit.rpd is not None and window.day_count >= limit.rpd:
            waits.append(window.day_end - now)
        return max(waits)

    def take(self, key_id: str, model: str, now: float) -> None:
        """Count one request that is being sent now."""
        window = self._window(key_id, model, now)
        window.requests.append(now)
        window.day_count += 1

    def add_tokens(self, key_id: str, model: str, tokens: int, now: float) -> None:
        window = self._window(key_id, model, now)
        window.tokens.append((now, tokens))
        window.token_sum += tokens

    def room(self, key_id: str, model: str, limit: Limit, now: float) -> float:
        """The share of the tightest limit still unused, from 0 (full) to 1 (idle)."""
        window = self._window(key_id, model, now)
        shares = [1.0]
        if limit.rpm:
            shares.append(1 - len(window.requests) / limit.rpm)
        if limit.tpm:
            shares.append(1 - window.token_sum / limit.tpm)
        if limit.rpd:
            shares.append(1 - window.day_count / limit.rpd)
        return max(0.0, min(shares))

    def daily_counts(self) -> Iterator[tuple[str, str, float, int]]:
        """(key_id, model, day_end, count) of every day counter, for persistence."""
        for (key_id, model), window in self._windows.items():
            if window.day_count:
                yield key_id, model, window.day_end, window.day_count

    def restore_day(self, key_id: str, model: str, day_end: float, count: int, now: float) -> None:
        window = self._window(key_id, model, now)
        if day_end == window.day_end:
            window.day_count = max(window.day_count, count)


def _token_wait(window: _Window, tpm: int, now: float) -> float:
    """When enough of the last minute's tokens will have aged out to go under ``tpm``."""
    excess = window.token_sum - tpm
    for at, tokens in window.tokens:
        excess -= tokens
        if excess < 0:
            return at + _MINUTE - now
    return _MINUTE
