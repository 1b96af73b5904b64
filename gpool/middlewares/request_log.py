"""Request log: a request id for every request and one access line when it ends."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.logs import Fields, direct_writer
from gpool.routes import route_info
from gpool.state import KEY, REQUEST_ID, RESPONSE_HEADERS, RESPONSE_STARTED, ROUTE, TRIED_KEYS

__all__ = ["AccessLog", "apply_response_headers", "request_log_middleware"]

access_log = logging.getLogger("gpool.access")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Logged when the client went away before an answer was complete (nginx's convention).
CLIENT_CLOSED = 499


class AccessLog:
    """Writes the ``gpool.access`` line of each request.

    ``fields`` attaches the line's parts for structured (JSON) logging; plain-text logs
    skip building them. Under ``gpool serve``'s own logging set-up, lines skip the
    ``LogRecord`` machinery (see ``direct_writer``); ``bind`` decides that at start-up.
    """

    def __init__(self, *, fields: bool = True) -> None:
        self.fields = fields
        self._direct: Callable[[str, Fields | None], None] | None = None

    async def bind(self, app: web.Application) -> None:
        """``on_startup``: use the direct path if logging is set up for it by now."""
        self._direct = direct_writer(access_log)

    def write(self, request: web.Request, status: int, elapsed: float) -> None:
        key = request.get(KEY)
        label = key.label if key is not None else "-"
        attempts = len(request.get(TRIED_KEYS, ()))
        request_id = request[REQUEST_ID]
        # request.path carries no query string, so a ?key= credential never reaches the log.
        message = (
            f"{request_id} {request.method} {request.path} {status} {elapsed * 1000:.1f}ms "
            f"key={label} attempts={attempts}"
        )
        fields: dict[str, object] | None = None
        if self.fields:
            fields = {
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "key": None if key is None else label,
                "attempts": attempts,
            }
        if self._direct is not None:
            self._direct(message, fields)
        else:
            access_log.info("%s", message, extra=fields)


def request_log_middleware(access: AccessLog | None = None) -> Middleware:
    """Tag each request with an id (the client's ``X-Request-Id`` if sane) and its route's
    ``RouteInfo``, and log it once."""
    access = access or AccessLog()
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
        request[ROUTE] = route_info(request)  # looked up once, for every later stage
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
                access.write(request, status, time.perf_counter() - started)

    return request_log


async def apply_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: add the headers middlewares asked for, even on streams."""
    extra = request.get(RESPONSE_HEADERS)
    if extra:
        response.headers.update(extra)
    request[RESPONSE_STARTED] = True
