"""The routes gpool serves, and what each route needs from the middlewares."""

from __future__ import annotations

from aiohttp import web
from attrs import frozen

from gpool.dialect import Dialect
from gpool.state import ROUTES

__all__ = ["RouteInfo", "route_info", "setup_routes"]


@frozen
class RouteInfo:
    dialect: Dialect
    keyed: bool = False  # goes upstream with a pool key, through retry and key selection
    public: bool = False  # served without a client token
    model_in_path: bool = False  # the {model} path segment is filtered and aliased


def route_info(request: web.Request) -> RouteInfo | None:
    routes = request.app.get(ROUTES)
    return None if routes is None else routes.get(request.match_info.route.name or "")


def setup_routes(app: web.Application) -> None:
    """Register every route and its RouteInfo."""
    from gpool.routes import gemini, health

    infos: dict[str, RouteInfo] = {}
    for name, method, path, handler, info in (*gemini.ROUTES, *health.ROUTES):
        app.router.add_route(method, path, handler, name=name)
        infos[name] = info
    app[ROUTES] = infos
