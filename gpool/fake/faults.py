"""The errors each fault answers with, worded and detailed as Google words them."""

from __future__ import annotations

from typing import Any

from .wire import RPC, STATUS_NAMES, FakeError, error_body

__all__ = [
    "EMBED_METHODS",
    "fault_body",
    "fault_error",
    "invalid_argument",
    "no_key_error",
    "not_found",
    "status_error",
]

EMBED_METHODS = frozenset({"embedContent", "batchEmbedContents"})
SERVICE = "generativelanguage.googleapis.com"

_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)
_INVALID_KEY = "API key not valid. Please pass a valid API key."
# The project number stands in for the key: Google's message names the consumer,
# and the fake never echoes a key back.
_SUSPENDED = "Permission denied: Consumer 'projects/123456789' has been suspended."
_INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)
_OVERLOADED = "The model is overloaded. Please try again later."
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
    "To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. "
    "\n* Quota exceeded for metric: {metric}, limit: {limit}{model}\nPlease retry in {delay}s."
)

# (window, embed?) -> (metric, quotaId, limit)
_QUOTAS: dict[tuple[str, bool], tuple[str, str, str]] = {
    ("rpm", False): (
        f"{SERVICE}/generate_content_free_tier_requests",
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "10",
    ),
    ("rpd", False): (
        f"{SERVICE}/generate_content_free_tier_requests",
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
        "250",
    ),
    ("rpm", True): (
        f"{SERVICE}/embed_content_free_tier_requests",
        "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
        "100",
    ),
    ("rpd", True): (
        f"{SERVICE}/embed_content_free_tier_requests",
        "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier",
        "1000",
    ),
}


def _localized(message: str) -> dict[str, Any]:
    return {"@type": RPC + "LocalizedMessage", "locale": "en-US", "message": message}


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": RPC + "ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {**metadata, "service": SERVICE},
    }


def retry_duration(delay: float) -> str:
    """``RetryInfo.retryDelay``: whole seconds as Google sends, or a fraction below one second."""
    if delay >= 1:
        return f"{int(delay)}s"
    return f"{max(delay, 0.0):.3f}s"


def quota_error(window: str, model: str | None, method: str | None, delay: float) -> FakeError:
    metric, quota_id, limit = _QUOTAS[window, method in EMBED_METHODS]
    dimensions = {"location": "global"}
    if model is not None:
        dimensions["model"] = model
    message = _QUOTA.format(
        metric=metric,
        limit=limit,
        model=f", model: {model}" if model is not None else "",
        delay=delay,
    )
    violation = {
        "quotaMetric": metric,
        "quotaId": quota_id,
        "quotaDimensions": dimensions,
        "quotaValue": limit,
    }
    details: list[dict[str, Any]] = [
        {
            "@type": RPC + "Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {"@type": RPC + "QuotaFailure", "violations": [violation]},
        {"@type": RPC + "RetryInfo", "retryDelay": retry_duration(delay)},
    ]
    return FakeError(429, message, details)


def fault_error(fault: str, model: str | None, method: str | None, delay: float) -> FakeError:
    """The error a failing fault answers with (``flaky`` fails as ``overloaded``)."""
    if fault == "invalid":
        return FakeError(
            400, _INVALID_KEY, [_error_info("API_KEY_INVALID"), _localized(_INVALID_KEY)]
        )
    if fault == "suspended":
        info = _error_info("CONSUMER_SUSPENDED", consumer="projects/123456789")
        return FakeError(403, _SUSPENDED, [info, _localized(_SUSPENDED)])
    if fault in ("rpm", "rpd"):
        return quota_error(fault, model, method, delay)
    if fault == "exhausted":
        # The bare 429 Google also sends: no QuotaFailure, no RetryInfo, no delay to go by.
        return FakeError(429, "Resource has been exhausted (e.g. check quota).")
    if fault == "internal":
        return FakeError(500, _INTERNAL)
    if fault in ("overloaded", "flaky"):
        return FakeError(503, _OVERLOADED)
    raise ValueError(f"fault {fault!r} has no error")


# A benchmark hammers the same few errors, so render each body once.
_BODIES: dict[tuple[str, str | None, bool, float], bytes] = {}


def fault_body(fault: str, model: str | None, method: str | None, delay: float) -> bytes:
    cache_key = (fault, model, method in EMBED_METHODS, delay)
    body = _BODIES.get(cache_key)
    if body is None:
        err = fault_error(fault, model, method, delay)
        body = error_body(err.code, err.message, err.details)
        if len(_BODIES) < 10_000:
            _BODIES[cache_key] = body
    return body


def no_key_error() -> FakeError:
    return FakeError(403, _NO_KEY)


def not_found(model: str, version: str, method: str) -> FakeError:
    return FakeError(
        404,
        f"models/{model} is not found for API version {version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods.",
    )


def invalid_argument(message: str, field: str | None = None) -> FakeError:
    """A 400; with ``field`` (maybe "") it carries a ``BadRequest`` detail, as Google's do."""
    details = None
    if field is not None:
        violation = {"field": field, "description": message} if field else {"description": message}
        details = [{"@type": RPC + "BadRequest", "fieldViolations": [violation]}]
    return FakeError(400, message, details)


def status_error(code: int, model: str | None, method: str | None, delay: float) -> FakeError:
    """The error for an HTTP status picked by a prompt marker (``[midstream_error=503]``)."""
    by_code = {500: "internal", 503: "overloaded", 429: "rpm"}
    fault = by_code.get(code)
    if fault is not None:
        return fault_error(fault, model, method, delay)
    name = STATUS_NAMES.get(code, "UNKNOWN")
    return FakeError(code, f"Fake upstream error {code} ({name}).")
