"""gpool's exception tree, and how each error is told to a client.

    GpoolError
    ├── ConfigError              the configuration cannot be used (gpool.config_loader)
    └── RequestError             a request fails; rendered as JSON in the caller's dialect
        ├── Unauthorized         401: missing or wrong client token
        ├── BadRequest           400: the client sent something we cannot use
        ├── ModelNotFound        404: denied, unknown or unaliased model
        ├── NoKeyAvailable       503: every key is disabled, cooling down or already tried
        │   └── CapacityExhausted  429: every healthy key is at its declared limits
        └── UpstreamFailure      the upstream answer cannot be used for this attempt
            ├── UpstreamHTTPError    an error status with its (Google-shaped) body
            ├── UpstreamUnreachable  connection, TLS or proxy error
            └── UpstreamTimeout      connect or read timeout

Foreign errors (aiohttp, aiohttp-socks, asyncio timeouts) become ``UpstreamFailure``
in exactly one place, ``gpool.upstream.map_errors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpool.keys.classify import Verdict

__all__ = [
    "BadRequest",
    "CapacityExhausted",
    "GpoolError",
    "ModelNotFound",
    "NoKeyAvailable",
    "RequestError",
    "Unauthorized",
    "UpstreamFailure",
    "UpstreamHTTPError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class GpoolError(Exception):
    """Base of every error gpool raises on purpose."""


class RequestError(GpoolError):
    """A request failed; ``status`` and the Google/OpenAI codes say how to tell the client."""

    status = 500
    google_status = "INTERNAL"
    openai_type = "api_error"
    openai_code: str | None = None

    def __init__(
        self, message: str, *, retry_after: float | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.param = param  # the offending request field, for OpenAI's error shape


class Unauthorized(RequestError):
    status = 401
    google_status = "UNAUTHENTICATED"
    openai_type = "invalid_request_error"
    openai_code = "invalid_api_key"


class BadRequest(RequestError):
    status = 400
    google_status = "INVALID_ARGUMENT"
    openai_type = "invalid_request_error"


class ModelNotFound(RequestError):
    status = 404
    google_status = "NOT_FOUND"
    openai_type = "invalid_request_error"
    openai_code = "model_not_found"


class NoKeyAvailable(RequestError):
    status = 503
    google_status = "UNAVAILABLE"
    openai_type = "api_error"
    openai_code = "no_key_available"

    def __init__(
        self, message: str, *, retry_after: float | None = None, tried_out: bool = False
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        #: Usable keys remain, but this request has already tried them all.
        self.tried_out = tried_out


class CapacityExhausted(NoKeyAvailable):
    """Every healthy key is at the limits the operator declared: a 429, not an outage."""

    status = 429
    google_status = "RESOURCE_EXHAUSTED"
    openai_type = "requests"
    openai_code = "rate_limit_exceeded"


class UpstreamFailure(RequestError):
    """One attempt failed upstream; ``verdict`` says what it means for the key and the request."""

    status = 502
    google_status = "UNAVAILABLE"

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict

    @property
    def retryable(self) -> bool:
        return self.verdict.retry


class UpstreamHTTPError(UpstreamFailure):
    """The upstream answered with an error status; ``body`` is its (Google-shaped) body."""

    def __init__(self, status: int, body: bytes, content_type: str, verdict: Verdict) -> None:
        super().__init__(f"upstream answered {status}", verdict)
        self.status = status
        self.body = body
        self.content_type = content_type


class UpstreamUnreachable(UpstreamFailure):
    status = 502


class UpstreamTimeout(UpstreamFailure):
    status = 504
    google_status = "DEADLINE_EXCEEDED"
