"""What the fake remembers: its options, every call it received, and per-key counters."""

from __future__ import annotations

import base64
import hashlib
from collections import deque

import attrs
from aiohttp import web

__all__ = ["CALL", "FAKE_STATE", "FakeOptions", "FakeState", "RecordedCall"]


@attrs.frozen(kw_only=True)
class FakeOptions:
    """Timing knobs fixed when the app is built."""

    chunk_delay: float = 0.0
    slow_delay: float = 2.0
    rpm_retry_delay: float = 37.48
    record: bool = True
    quota_rpm: int | None = None  # every key's real per-minute quota per model, enforced


@attrs.define
class RecordedCall:
    """One request exactly as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    key: str | None = attrs.field(repr=False)
    model: str | None
    api_version: str
    method_name: str | None


@attrs.define
class FakeState:
    """The recorder, plus the counters the ``flaky`` fault and response ids need."""

    calls: list[RecordedCall] = attrs.Factory(list)
    options: FakeOptions = attrs.Factory(FakeOptions)
    closing: bool = False
    _flaky: dict[str, int] = attrs.Factory(dict)
    _responses: int = 0
    #: 429s sent because a key went over ``quota_rpm`` (what a good pool never causes).
    quota_refusals: int = 0
    _minute: dict[tuple[str, str], deque[float]] = attrs.Factory(dict)

    def over_quota(self, key: str, model: str, now: float) -> float | None:
        """Count a call against ``quota_rpm``: None if it fits, else seconds until it would."""
        limit = self.options.quota_rpm
        if limit is None:
            return None
        window = self._minute.setdefault((key, model), deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            self.quota_refusals += 1
            return window[len(window) - limit] + 60 - now
        window.append(now)
        return None

    def clear(self) -> None:
        """Forget recorded calls and per-key counters (``flaky`` starts over with a failure)."""
        self.calls.clear()
        self._flaky.clear()
        self._minute.clear()
        self.quota_refusals = 0

    def keys_seen(self) -> list[str | None]:
        return [call.key for call in self.calls]

    def flaky_fails(self, key: str) -> bool:
        """Count a call with a ``flaky`` key: the 1st, 3rd, 5th… fail."""
        n = self._flaky.get(key, 0) + 1
        self._flaky[key] = n
        return n % 2 == 1

    def next_response_id(self) -> str:
        """A unique, random-looking and still deterministic ``responseId`` (22 url-safe chars)."""
        self._responses += 1
        digest = hashlib.blake2b(self._responses.to_bytes(8, "big"), digest_size=16).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


FAKE_STATE: web.AppKey[FakeState] = web.AppKey("gpool_fake_state", FakeState)
CALL: web.RequestKey[RecordedCall] = web.RequestKey("gpool_fake_call", RecordedCall)
