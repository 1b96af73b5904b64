"""Errors in the caller's dialect: Google's shape on native routes, OpenAI's on /v1/chat…"""

from __future__ import annotations

import json
import math
from typing import Literal

from aiohttp import web

from gpool.errors import NoKeyAvailable, RequestError, UpstreamHTTPError
from gpool.redact import redact
from gpool.state import ROUTES, TRIED_KEYS

__all__ = ["Dialect", "dialect_of", "error_response", "google_error_body"]

Dialect = Literal["google", "openai"]

_JSON = "application/json; charset=UTF-8"
_OPENAI_SUFFIXES = ("/chat/completions", "/completions", "/embeddings")


def dialect_of(request: web.Request) -> Dialect:
    """The dialect of the matched route; for unmatched paths, a guess from the path."""
    routes = request.app.get(ROUTES)
    name = request.match_info.route.name
    if routes is None or name not in routes:
        return "openai" if request.path.endswith(_OPENAI_SUFFIXES) else "google"
    dialect = routes[name].dialect
    if dialect == "auto":
        # google-genai sends x-goog-api-key; OpenAI clients send Authorization: Bearer.
        gemini_style = "x-goog-api-key" in request.headers or "key" in request.query
        return "google" if gemini_style else "openai"
    return dialect


def google_error_body(status: int, message: str, google_status: str) -> bytes:
    """Google's error object, pretty-printed as Google prints it."""
    error = {"error": {"code": status, "message": message, "status": google_status}}
    return json.dumps(error, indent=2).encode()


def _upstream_message(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None


# What an upstream error status means to an OpenAI client: (status, type, code).
_OPENAI_UPSTREAM = {
    400: (400, "invalid_request_error", None),
    404: (404, "invalid_request_error", "model_not_found"),
    413: (413, "invalid_request_error", None),
    429: (429, "requests", "rate_limit_exceeded"),
}


def _openai_shape(exc: RequestError) -> tuple[int, str, str | None]:
    if isinstance(exc, UpstreamHTTPError):
        # A final 401/403 means the pool's last key was refused: not the client's fault.
        return _OPENAI_UPSTREAM.get(
            exc.status, (502 if exc.status < 500 else exc.status, "api_error", "upstream_error")
        )
    if isinstance(exc, NoKeyAvailable) and exc.retry_after is not None:
        return 429, "requests", "rate_limit_exceeded"
    return exc.status, exc.openai_type, exc.openai_code


def error_response(request: web.Request, exc: RequestError) -> web.Response:
    """Render ``exc`` for the client in its dialect, with no secret in the body."""
    dialect = dialect_of(request)
    headers = {"Content-Type": _JSON}
    retry_after = exc.retry_after
    if isinstance(exc, UpstreamHTTPError) and exc.verdict.cooldown and retry_after is None:
        retry_after = exc.verdict.cooldown
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))
    secrets = [k.secret for k in request.get(TRIED_KEYS, ())]
    if dialect == "google":
        if isinstance(exc, UpstreamHTTPError):
            # Google's own error body, byte for byte but for any key it might echo.
            headers["Content-Type"] = exc.content_type
            body = redact(exc.body.decode("utf-8", "replace"), secrets).encode()
        else:
            body = google_error_body(exc.status, redact(exc.message, secrets), exc.google_status)
        return web.Response(status=exc.status, body=body, headers=headers)
    message = exc.message
    if isinstance(exc, UpstreamHTTPError):
        message = _upstream_message(exc.body) or exc.message
    status, kind, code = _openai_shape(exc)
    error = {"message": redact(message, secrets), "type": kind, "param": exc.param, "code": code}
    return web.Response(status=status, body=json.dumps({"error": error}).encode(), headers=headers)
