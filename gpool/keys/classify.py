"""What an upstream error means for the key that got it and for the request: one table."""

from __future__ import annotations

import enum
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from attrs import frozen

__all__ = ["Effect", "Verdict", "classify", "next_pacific_midnight", "transient"]

_PACIFIC = ZoneInfo("America/Los_Angeles")
_TYPE_PREFIX = "type.googleapis.com/google.rpc."
_RETRY_IN = re.compile(r"[Pp]lease retry in ([0-9.]+)(ms|s)")
_DURATION = re.compile(r"^([0-9.]+)s$")


class Effect(enum.Enum):
    NONE = "none"  # the client's fault: the key is innocent
    DISABLE = "disable"  # the key is unusable until an operator or a probe says otherwise
    COOLDOWN = "cooldown"  # the key is out of quota for this model for a while
    TRANSIENT = "transient"  # the upstream or the path to it hiccuped


@frozen
class Verdict:
    effect: Effect
    retry: bool
    reason: str
    cooldown: float = 0.0  # seconds, for Effect.COOLDOWN
    backoff: bool = False  # a cooldown the upstream gave no delay for: the pool backs off


def transient(reason: str) -> Verdict:
    """The verdict for a timeout, a connection error or a proxy error."""
    return Verdict(Effect.TRANSIENT, retry=True, reason=reason)


def classify(status: int, body: bytes, *, now: float) -> Verdict:
    """Classify an upstream error answer. ``now`` is the wall clock, for daily resets.

    | answer                                   | key                     | request  |
    |------------------------------------------|-------------------------|----------|
    | 400 ErrorInfo.reason API_KEY_INVALID     | disabled                | retried  |
    | 401, 403 about the key (suspended…)      | disabled                | retried  |
    | 429 per-day quotaId                      | cooled down to midnight | retried  |
    | 429 with a delay (RetryInfo, message)    | cooled down that long   | retried  |
    | 429 with no delay                        | exponential backoff     | retried  |
    | 500, 502, 503, 504                       | transient failure       | retried  |
    | any other status                         | untouched               | returned |
    """
    error = _error_object(body)
    details = error.get("details")
    details = details if isinstance(details, list) else []
    reason = _error_info_reason(details) or str(error.get("status") or status)
    if status == 400 and reason == "API_KEY_INVALID":
        return Verdict(Effect.DISABLE, retry=True, reason=reason)
    if status == 401 or (status == 403 and _key_refused(reason, error)):
        return Verdict(Effect.DISABLE, retry=True, reason=reason)
    if status == 429:
        quota_ids = _quota_ids(details)
        if any("PerDay" in q for q in quota_ids):
            until = next_pacific_midnight(now)
            return Verdict(Effect.COOLDOWN, retry=True, reason="daily quota", cooldown=until - now)
        delay = _retry_delay(details, str(error.get("message", "")))
        if delay is None:
            return Verdict(Effect.COOLDOWN, retry=True, reason="rate limited", backoff=True)
        return Verdict(Effect.COOLDOWN, retry=True, reason="rate limited", cooldown=delay)
    if status in (500, 502, 503, 504):
        return Verdict(Effect.TRANSIENT, retry=True, reason=reason)
    return Verdict(Effect.NONE, retry=False, reason=reason)


# 403 reasons that condemn the key (its project), not the request.
_KEY_REASONS = frozenset(
    {
        "CONSUMER_SUSPENDED",
        "SERVICE_DISABLED",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
        "BILLING_DISABLED",
    }
)


def _key_refused(reason: str, error: dict[str, object]) -> bool:
    """A 403 about the key; not one about a file or cache the key cannot see."""
    if reason in _KEY_REASONS:
        return True
    message = str(error.get("message", ""))
    return "API key" in message or "unregistered callers" in message


def next_pacific_midnight(now: float) -> float:
    """The next midnight in US Pacific time, when Google resets daily quotas."""
    local = datetime.fromtimestamp(now, _PACIFIC)
    midnight = datetime(local.year, local.month, local.day, tzinfo=_PACIFIC) + timedelta(days=1)
    return midnight.timestamp()


def _error_object(body: bytes) -> dict[str, object]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    # The stream framing wraps errors in a one-element array.
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else {}


def _details_of(details: list[object], kind: str) -> list[dict[str, object]]:
    wanted = _TYPE_PREFIX + kind
    return [d for d in details if isinstance(d, dict) and d.get("@type") == wanted]


def _error_info_reason(details: list[object]) -> str | None:
    for info in _details_of(details, "ErrorInfo"):
        reason = info.get("reason")
        if isinstance(reason, str):
            return reason
    return None


def _quota_ids(details: list[object]) -> list[str]:
    ids = []
    for failure in _details_of(details, "QuotaFailure"):
        violations = failure.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            if isinstance(violation, dict) and isinstance(violation.get("quotaId"), str):
                ids.append(violation["quotaId"])
    return ids


def _retry_delay(details: list[object], message: str) -> float | None:
    for info in _details_of(details, "RetryInfo"):
        delay = info.get("retryDelay")
        match = _DURATION.match(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    match = _RETRY_IN.search(message)
    if match:
        value = float(match.group(1))
        return value / 1000 if match.group(2) == "ms" else value
    return None
