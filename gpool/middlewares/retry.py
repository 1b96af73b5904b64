"""Retry/failover: run the rest of the chain again, on a new key, while that can't be seen."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.errors import NoKeyAvailable, UpstreamFailure
from gpool.keys import RetryBudget
from gpool.state import RESPONSE_STARTED, ROUTE, TRIED_KEYS

__all__ = ["retry_middleware"]

log = logging.getLogger("gpool.retry")


def retry_middleware(max_attempts: int, budget: RetryBudget | None = None) -> Middleware:
    """Retry a failed attempt up to ``max_attempts`` in all, within the retry ``budget``.

    It sits outside key selection, so every attempt chooses its key afresh and never one
    already tried. Nothing is retried once the response has started.
    """

    @web.middleware
    async def retry(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request[ROUTE]
        if info is None or not info.keyed:
            return await handler(request)
        request[TRIED_KEYS] = []
        if budget is not None:
            budget.request()
        attempt = 1
        failure: UpstreamFailure | None = None
        while True:
            try:
                return await handler(request)
            except NoKeyAvailable as exc:
                # Keys remain, but this request tried them all: the last failure says more.
                if exc.tried_out and failure is not None:
                    raise failure from None
                raise
            except UpstreamFailure as exc:
                failure = exc
                if not exc.retryable or attempt >= max_attempts or request.get(RESPONSE_STARTED):
                    raise
                if budget is not None and not budget.try_retry():
                    log.warning("retry budget spent: not failing over (%s)", exc.verdict.reason)
                    raise
                key = request[TRIED_KEYS][-1]
                log.info(
                    "attempt %d on key %s failed (%s); failing over",
                    attempt,
                    key.label,
                    exc.verdict.reason,
                )
                attempt += 1

    return retry
