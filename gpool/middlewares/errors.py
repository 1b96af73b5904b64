"""Errors: every failure becomes a JSON error in the caller's dialect, never a traceback."""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.dialect import error_response
from gpool.errors import RequestError
from gpool.state import RESPONSE_STARTED

__all__ = ["errors_middleware"]

log = logging.getLogger("gpool.errors")

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _from_http(exc: web.HTTPException) -> RequestError:
    """aiohttp's own errors (no route, wrong method, body too large) as a RequestError."""
    error = RequestError(_http_message(exc))
    error.status = exc.status
    error.google_status = _GOOGLE_STATUS.get(exc.status, "UNKNOWN")
    error.openai_type = "invalid_request_error" if exc.status < 500 else "api_error"
    error.openai_code = HTTPStatus(exc.status).phrase.lower().replace(" ", "_")
    return error


def _http_message(exc: web.HTTPException) -> str:
    if exc.status == 404:
        return "no such endpoint"
    if exc.status == 405:
        return f"method not allowed; allowed: {exc.headers.get('Allow', '')}"
    return exc.text or exc.reason


def errors_middleware() -> Middleware:
    """Catch gpool's errors, aiohttp's HTTP errors and anything unexpected."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as exc:
            if request.get(RESPONSE_STARTED):
                raise
            return error_response(request, exc)
        except web.HTTPException as exc:
            if exc.status < 400 or request.get(RESPONSE_STARTED):
                raise
            response = error_response(request, _from_http(exc))
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("unexpected error while serving %s %s", request.method, request.path)
            if request.get(RESPONSE_STARTED):
                raise
            error = RequestError("gpool hit an internal error; see its log for details")
            return error_response(request, error)

    return errors
