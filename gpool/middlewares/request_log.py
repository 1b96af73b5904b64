"""Request log: a request id for every request and one access line when it ends."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.state import KEY, REQUEST_ID, RESPONSE_HEADERS, RESPONSE_STARTED, TRIED_KEYS

__all__ = ["apply_response_headers", "request_log_middleware"]

access_log = logging.getLogger("gpool.access")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Logged when the client went away before an answer was complete (nginx's convention).
CLIENT_CLOSED = 499


def request_log_middleware(*, fields: bool = True) -> Middleware:
    """Tag each request with an id (the client's ``X-Request-Id`` if sane) and log it once.

    ``fields`` attaches the line's parts as record attributes, for structured (JSON)
    logging; plain-text logs skip building them.
    """

    # Ids are a random per-app prefix and a counter: unique without a syscall per request.
    prefix = secrets.token_hex(4)
    numbers = itertools.count()

    @web.middleware
    async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        incoming = request.headers.get("X-Request-Id", "")
        if _CLIENT_ID.match(incoming):
            request_id = incoming
        else:
            request_id = f"{prefix}{next(numbers) & 0xFFFFFFFF:08x}"
        request[REQUEST_ID] = request_id
        request[RESPONSE_HEADERS] = {"X-Request-Id": request_id}
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            status = CLIENT_CLOSED
            raise
        finally:
            if access_log.isEnabledFor(logging.INFO):
                _log(request, status, time.perf_counter() - started, fields)

    return request_log


def _log(request: web.Request, status: int, elapsed: float, fields: bool) -> None:
    key = request.get(KEY)
    label = key.label if key is not None else None
    attempts = len(request.get(TRIED_KEYS, ()))
    extra = None
    if fields:
        extra = {
            "request_id": request[REQUEST_ID],
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "key": label,
            "attempts": attempts,
        }
    # request.path carries no query string, so a ?key= credential never reaches the log.
    access_log.info(
        "%s %s %s %d %.1fms key=%s attempts=%d",
        request[REQUEST_ID],
        request.method,
        request.path,
        status,
        elapsed * 1000,
        label or "-",
        attempts,
        extra=extra,
    )


async def apply_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: add the headers middlewares asked for, even on streams."""
    extra = request.get(RESPONSE_HEADERS)
    if extra:
        response.headers.update(extra)
    request[RESPONSE_STARTED] = True
