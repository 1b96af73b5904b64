"""Fake API keys: the fault each key asks for, and a builder for such keys."""

from __future__ import annotations

__all__ = ["FAULTS", "KEY_PREFIX", "fake_key", "fault_of"]

KEY_PREFIX = "AIzaFAKE_"
KEY_LENGTH = 39  # the length of a real Google API key

FAULTS: frozenset[str] = frozenset(
    {
        "ok",
        "invalid",
        "suspended",
        "rpm",
        "rpd",
        "exhausted",
        "internal",
        "overloaded",
        "flaky",
        "slow",
        "stalled",
        "cut",
    }
)

# Keys repeat endlessly in a benchmark, so parse each one only once.
_FAULT_CACHE: dict[str, str] = {}


def fake_key(fault: str = "ok", n: int = 0) -> str:
    """Build a key-like string (``AIzaFAKE_rpm_0000…0003``) that asks the fake for ``fault``."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of {sorted(FAULTS)}")
    if n < 0:
        raise ValueError("n must not be negative")
    head = f"{KEY_PREFIX}{fault}_"
    return head + str(n).zfill(max(KEY_LENGTH - len(head), 1))


def fault_of(key: str) -> str:
    """The fault a key asks for: ``AIzaFAKE_<fault>_…`` names it, anything else is ``ok``."""
    fault = _FAULT_CACHE.get(key)
    if fault is None:
        fault = "ok"
        if key.startswith(KEY_PREFIX):
            name, sep, _ = key[len(KEY_PREFIX) :].partition("_")
            if sep and name in FAULTS:
                fault = name
        if len(_FAULT_CACHE) < 100_000:
            _FAULT_CACHE[key] = fault
    return fault
