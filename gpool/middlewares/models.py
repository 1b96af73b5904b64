"""Model filter: allow/deny globs and aliases, before any key is spent on a request."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.catalog import ModelCatalog
from gpool.errors import ModelNotFound
from gpool.model_policy import ModelPolicy
from gpool.routes import route_info
from gpool.state import MODEL, UPSTREAM_MODEL

__all__ = ["models_middleware"]


def models_middleware(policy: ModelPolicy, catalog: ModelCatalog) -> Middleware:
    """Resolve the model a request names into ``request[UPSTREAM_MODEL]``, or answer 404.

    A model the upstream does not list is refused here too, so it never costs a key.
    """

    @web.middleware
    async def models(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = route_info(request)
        if info is None or not info.model_in_path:
            return await handler(request)
        name = request.match_info["model"]
        target = policy.upstream_name(name)
        if target is None:
            raise ModelNotFound(f"models/{name} is not available through this gateway.")
        if await catalog.knows(target) is False:
            version = request.match_info.get("version", "v1beta")
            raise ModelNotFound(
                f"models/{name} is not found for API version {version}. "
                "Call ListModels to see the list of available models."
            )
        request[MODEL] = name
        request[UPSTREAM_MODEL] = target
        return await handler(request)

    return models
