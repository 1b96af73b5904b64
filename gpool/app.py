"""create_app(config): the gpool application, standalone or mounted as a sub-app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gpool.affinity import Affinity
from gpool.catalog import ModelCatalog
from gpool.config import Config
from gpool.keys.build import build_pool, build_retry_budget
from gpool.media import MediaFetcher, MediaPolicy
from gpool.middlewares import (
    AccessLog,
    apply_response_headers,
    auth_middleware,
    cors_middleware,
    errors_middleware,
    keys_middleware,
    models_middleware,
    request_log_middleware,
    retry_middleware,
)
from gpool.model_policy import ModelPolicy
from gpool.recovery import RecoveryProbe
from gpool.routes import setup_routes
from gpool.state import CATALOG, CONFIG, MEDIA, POOL, PROBE, RESOURCES, UPSTREAM
from gpool.upstream import Upstream

__all__ = ["create_app"]


def create_app(config: Config, *, worker: tuple[int, int] | None = None) -> web.Application:
    """Build gpool. Nothing is global: two apps in one process share nothing.

    ``worker=(index, count)`` when ``gpool serve --workers`` runs several processes.

    As a sub-app, the parent's ``client_max_size`` and server settings apply; run the
    server with ``handler_cancellation=True`` so a client that hangs up cancels its
    upstream call at once (``gpool serve`` does).
    """
    pool = build_pool(config, worker=worker)
    upstream = Upstream(config.upstream, {k.proxy for k in pool.keys})
    policy = ModelPolicy(config.models)
    catalog = ModelCatalog(
        upstream,
        pool,
        policy,
        max_attempts=config.retry.max_attempts,
        ttl=config.models.refresh_seconds,
    )
    media = MediaFetcher(
        MediaPolicy(
            timeout=config.media.timeout,
            max_bytes=config.media.max_mb * 1024 * 1024,
            allow_private=config.media.allow_private,
        )
    )
    app = web.Application(client_max_size=config.server.max_body_mb * 1024 * 1024)
    app[CONFIG] = config
    app[POOL] = pool
    app[UPSTREAM] = upstream
    app[CATALOG] = catalog
    app[MEDIA] = media
    # Owners of files and caches live in the ledger, so they persist and are shared.
    app[RESOURCES] = resources = pool.ledger.resources
    affinity = Affinity(resources, pool, upstream_url=config.upstream.base_url)
    app[PROBE] = RecoveryProbe(
        pool,
        upstream,
        interval=config.pool.probe_interval,
        concurrency=config.pool.probe_concurrency,
    )
    access = AccessLog(fields=config.log.format == "json")
    app.on_startup.append(access.bind)
    # Order matters: each stage may rely on what the ones before it did.
    app.middlewares.extend(
        [
            # Outermost: sees every answer, errors included.
            request_log_middleware(access),
            errors_middleware(),  # everything below ends as a JSON error in dialect
            cors_middleware(config.cors),  # preflights are answered before auth
            auth_middleware(config.auth.tokens),
            models_middleware(policy, catalog),  # refuse before a key is spent
            # Outside key selection, so every attempt draws a new key.
            retry_middleware(config.retry.max_attempts, build_retry_budget(config)),
            keys_middleware(pool, affinity.pin_for),
        ]
    )
    app.on_response_prepare.append(apply_response_headers)
    app.cleanup_ctx.append(_sessions_ctx)
    setup_routes(app)
    return app


async def _sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = app[POOL]
    await pool.ledger.start(pool)
    await app[UPSTREAM].start()
    await app[MEDIA].start()
    probes = asyncio.create_task(app[PROBE].run())
    yield
    probes.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probes
    await app[CATALOG].close()
    await app[MEDIA].close()
    await app[UPSTREAM].close()
    await pool.ledger.close()
