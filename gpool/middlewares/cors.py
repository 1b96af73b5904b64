"""CORS: preflights answered before auth, and CORS headers on every answer, streams too."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.config import CorsConfig
from gpool.state import RESPONSE_HEADERS

__all__ = ["cors_middleware"]

_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
_EXPOSE = "X-Request-Id, Retry-After, X-Goog-Upload-URL, X-Goog-Upload-Status"


def cors_middleware(config: CorsConfig) -> Middleware:
    """Build the CORS middleware; the header sets are computed here, once."""
    origins = frozenset(config.allow_origins)
    any_origin = "*" in origins
    simple = {"Access-Control-Expose-Headers": _EXPOSE}
    preflight = {
        "Access-Control-Allow-Methods": _METHODS,
        "Access-Control-Max-Age": str(config.max_age),
    }
    if any_origin:
        simple["Access-Control-Allow-Origin"] = "*"
        preflight["Access-Control-Allow-Origin"] = "*"
    else:
        simple["Vary"] = "Origin"
        preflight["Vary"] = "Origin"

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or not (any_origin or origin in origins):
            return await handler(request)
        per_origin = {} if any_origin else {"Access-Control-Allow-Origin": origin}
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            headers = preflight | per_origin
            wanted = request.headers.get("Access-Control-Request-Headers")
            if wanted:
                headers["Access-Control-Allow-Headers"] = wanted
            return web.Response(status=204, headers=headers)
        request[RESPONSE_HEADERS].update(simple | per_origin)
        return await handler(request)

    return cors
