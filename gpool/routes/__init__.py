"""The routes gpool serves, and what each route needs from the middlewares."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from attrs import frozen

from gpool.dialect import Dialect
from gpool.state import ROUTES

__all__ = ["RouteInfo", "route_info", "setup_routes"]


@frozen
class RouteInfo:
    # "auto": Gemini's shape for callers that authenticate the Gemini way, else OpenAI's.
    dialect: Dialect | Literal["auto"]
    keyed: bool = False  # goes upstream with a pool key, through retry and key selection
    public: bool = False  # served without a client token
    # Where the model name is, for the model filter: the {model} path segment or the body.
    model_from: Literal["path", "body"] | None = None


def route_info(request: web.Request) -> RouteInfo | None:
    routes = request.app.get(ROUTES)
    return None if routes is None else routes.get(request.match_info.route.name or "")


def setup_routes(app: web.Application) -> None:
    """Register every route and its RouteInfo."""
    from gpool.routes import caches, files, gemini, health, openai

    infos: dict[str, RouteInfo] = {}
    # OpenAI's static /v1/... paths come first: they share /v1/models with the Gemini routes.
    for name, method, path, handler, info in (
        *openai.ROUTES,
        *gemini.ROUTES,
        *files.ROUTES,
        *caches.ROUTES,
        *health.ROUTES,
    ):
        app.router.add_route(method, path, handler, name=name)
        infos[name] = info
    app[ROUTES] = infos
