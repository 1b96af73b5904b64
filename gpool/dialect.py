"""Errors in the caller's dialect: Google's shape on native routes, OpenAI's on /v1/chat…"""

from __future__ import annotations

import json
import math
from typing import Literal

from aiohttp import web

from gpool.errors import RequestError, UpstreamHTTPError
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
    if routes is not None and name in routes:
        return routes[name].dialect
    return "openai" if request.path.endswith(_OPENAI_SUFFIXES) else "google"


def google_error_body(status: int, message: str, google_status: str) -> bytes:
    """Google's error object, pretty-printed as Google prints it."""
    error = {"error": {"code": status, "message": message, "status": google_status}}
    return json.dumps(error, indent=2).encode()


def _openai_error_body(exc: RequestError, message: str) -> bytes:
    error = {"message": message, "type": exc.openai_type, "param": None, "code": exc.openai_code}
    return json.dumps({"error": error}).encode()


def _upstream_message(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None


def error_response(request: web.Request, exc: RequestError) -> web.Response:
    """Render ``exc`` for the client in its dialect, with no secret in the body."""
    dialect = dialect_of(request)
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(exc.retry_after))
    secrets = [k.secret for k in request.get(TRIED_KEYS, ())]
    if isinstance(exc, UpstreamHTTPError):
        if exc.verdict.cooldown and "Retry-After" not in headers:
            headers["Retry-After"] = str(math.ceil(exc.verdict.cooldown))
        if dialect == "google":
            body = redact(exc.body.decode("utf-8", "replace"), secrets).encode()
            headers["Content-Type"] = exc.content_type
            return web.Response(status=exc.status, body=body, headers=headers)
        message = _upstream_message(exc.body) or exc.message
    else:
        message = exc.message
    message = redact(message, secrets)
    headers["Content-Type"] = _JSON
    if dialect == "google":
        body = google_error_body(exc.status, message, exc.google_status)
    else:
        body = _openai_error_body(exc, message)
    return web.Response(status=exc.status, body=body, headers=headers)
