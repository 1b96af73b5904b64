"""Key selection: pick a usable key for this attempt and record what became of it."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.errors import UpstreamFailure
from gpool.keys import KeyPool
from gpool.keys.pool import NO_MODEL
from gpool.routes import route_info
from gpool.state import KEY, STREAM_FAILURE, TRIED_KEYS, UPSTREAM_MODEL

__all__ = ["keys_middleware"]


def keys_middleware(pool: KeyPool) -> Middleware:
    """Give the handler a key in ``request[KEY]``; report the outcome to the pool."""

    @web.middleware
    async def keys(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = route_info(request)
        if info is None or not info.keyed:
            return await handler(request)
        model = request.get(UPSTREAM_MODEL, NO_MODEL)
        tried = request.setdefault(TRIED_KEYS, [])
        key = pool.acquire(model, exclude=tried)
        tried.append(key)
        request[KEY] = key
        try:
            response = await handler(request)
        except UpstreamFailure as exc:
            pool.record_failure(key, model, exc.verdict)
            raise
        failure = request.pop(STREAM_FAILURE, None)
        if failure is None:
            pool.record_success(key, model)
        else:
            pool.record_failure(key, model, failure)
        return response

    return keys
