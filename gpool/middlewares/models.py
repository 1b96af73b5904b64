"""Model filter: allow/deny globs and aliases, before any key is spent on a request."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool import jsonio
from gpool.catalog import ModelCatalog
from gpool.errors import BadRequest, ModelNotFound
from gpool.model_policy import ModelPolicy
from gpool.state import BODY, MODEL, ROUTE, UPSTREAM_MODEL

__all__ = ["models_middleware"]


def models_middleware(policy: ModelPolicy, catalog: ModelCatalog) -> Middleware:
    """Resolve the model a request names into ``request[UPSTREAM_MODEL]``, or answer 404.

    A model the upstream does not list is refused here too, so it never costs a key.
    """

    @web.middleware
    async def models(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request[ROUTE]
        if info is None or info.model_from is None:
            return await handler(request)
        if info.model_from == "path":
            name = request.match_info["model"]
        else:
            request[BODY] = body = await json_body(request)
            name = _body_model(body)
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


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, parsed once here for every later stage."""
    raw = await request.read()
    try:
        body = jsonio.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _body_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise BadRequest("model: this field is required", param="model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("model: expected a non-empty string", param="model")
    return model.strip().removeprefix("models/")
