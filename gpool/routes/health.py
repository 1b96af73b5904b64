"""Liveness for load balancers: no secrets, no upstream call, no token needed."""

from __future__ import annotations

from aiohttp import web

from gpool.keys.pool import NO_MODEL
from gpool.routes import RouteInfo
from gpool.state import POOL


async def healthz(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    usable = pool.usable_count(NO_MODEL)
    return web.json_response(
        {"status": "ok" if usable else "degraded", "keys": len(pool.keys), "usable": usable}
    )


ROUTES = (("health", "GET", "/healthz", healthz, RouteInfo("google", public=True)),)
