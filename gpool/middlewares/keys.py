"""Key selection: pick a usable key for this attempt and record what became of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.errors import UpstreamFailure
from gpool.keys import KeyPool, PoolKey
from gpool.keys.pool import NO_MODEL
from gpool.state import KEY, PIN, ROUTE, STREAM_FAILURE, TOKENS, TRIED_KEYS, UPSTREAM_MODEL

__all__ = ["PinFor", "keys_middleware", "no_pin"]

PinFor = Callable[[web.Request], Awaitable[PoolKey | None]]


async def no_pin(request: web.Request) -> PoolKey | None:
    return None


def keys_middleware(pool: KeyPool, pin_for: PinFor = no_pin) -> Middleware:
    """Give the handler a key in ``request[KEY]``; report the outcome to the pool.

    ``pin_for`` names the one key a request must use, when it refers to a file or a
    cached content that only that key's project can see.
    """

    @web.middleware
    async def keys(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request[ROUTE]
        if info is None or not info.keyed:
            return await handler(request)
        model = request[UPSTREAM_MODEL] if info.model_from else NO_MODEL
        tried = request.setdefault(TRIED_KEYS, [])
        if not tried:  # the first attempt: later ones keep its pin
            request[PIN] = await pin_for(request)
        key = await pool.acquire(model, exclude=tried, pin=request[PIN])
        tried.append(key)
        request[KEY] = key
        # Set up front, so reading them back costs no KeyError when nothing was reported.
        request[STREAM_FAILURE] = request[TOKENS] = None
        try:
            response = await handler(request)
        except UpstreamFailure as exc:
            pool.record_failure(key, model, exc.verdict)
            raise
        failure = request[STREAM_FAILURE]
        if failure is None:
            await pool.record_success(key, model, request[TOKENS])
        else:
            pool.record_failure(key, model, failure)
        return response

    return keys
