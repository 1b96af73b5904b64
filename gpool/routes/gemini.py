"""Native Gemini routes under /v1beta, /v1 and /v1alpha: a faithful byte pass-through."""

from __future__ import annotations

import json

from aiohttp import web

from gpool.errors import ModelNotFound
from gpool.relay import relay
from gpool.routes import RouteInfo
from gpool.routes.paging import google_json, page
from gpool.state import CATALOG, KEY, MODEL, POOL, UPSTREAM, UPSTREAM_MODEL
from gpool.streams import GeminiStream, TokenTap

__all__ = ["ROUTES", "get_model", "list_models"]

_VERSION = "{version:v1beta|v1|v1alpha}"
_METHODS = "generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents"
_DEFAULT_PAGE = 50
_MAX_PAGE = 1000


async def call_model(request: web.Request) -> web.StreamResponse:
    """POST /{v}/models/{model}:{method}: the body goes upstream as the client sent it."""
    version = request.match_info["version"]
    method = request.match_info["method"]
    model = request[UPSTREAM_MODEL]
    body = await request.read()
    if method == "batchEmbedContents" and model != request[MODEL]:
        body = _realias_batch(body, request[MODEL], model)
    path = f"/{version}/models/{model}:{method}"
    async with request.app[UPSTREAM].open(
        request[KEY], "POST", path, query=request.query.items(), headers=request.headers, body=body
    ) as answer:
        count = _counts_tokens(request, model)
        if method != "streamGenerateContent":
            return await relay(request, answer, TokenTap() if count else None)
        sse = answer.headers.get("Content-Type", "").startswith("text/event-stream")
        return await relay(request, answer, GeminiStream(sse=sse, count_tokens=count))


def _counts_tokens(request: web.Request, model: str) -> bool:
    """Whether a tokens-per-minute limit needs this answer's token count."""
    limits = request.app[POOL].limits
    if not limits.counts_tokens:
        return False
    limit = limits.for_key(request[KEY].key_id, model)
    return limit is not None and limit.tpm is not None


def _realias_batch(body: bytes, alias: str, target: str) -> bytes:
    """Each batch entry repeats the model, and Google wants it to match the path's."""
    try:
        data = json.loads(body)
        for entry in data.get("requests", []):
            if entry.get("model") in (alias, f"models/{alias}"):
                entry["model"] = f"models/{target}"
    except (ValueError, AttributeError):
        return body  # not ours to judge: the upstream answers malformed bodies
    return json.dumps(data).encode()


async def list_models(request: web.Request) -> web.Response:
    """GET /{v}/models: the upstream catalog, filtered and aliased, paged like Google."""
    models = await request.app[CATALOG].visible_models()
    return google_json(page(models, request.query, "models"))


async def get_model(request: web.Request) -> web.Response:
    """GET /{v}/models/{model}: one catalog entry, under the name the client asked for."""
    wanted = f"models/{request[MODEL]}"
    for model in await request.app[CATALOG].visible_models():
        if model.get("name") == wanted:
            return google_json(model)
    raise ModelNotFound(f"{wanted} is not found.")


_NATIVE = RouteInfo("google", keyed=True, model_from="path")
ROUTES = (
    (
        "gemini.call",
        "POST",
        f"/{_VERSION}/models/{{model:[^/:]+}}:{{method:{_METHODS}}}",
        call_model,
        _NATIVE,
    ),
    ("gemini.list", "GET", f"/{_VERSION}/models", list_models, RouteInfo("google")),
    (
        "gemini.get",
        "GET",
        f"/{_VERSION}/models/{{model:[^/:]+}}",
        get_model,
        RouteInfo("google", model_from="path"),
    ),
)
