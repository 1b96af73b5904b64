"""cachedContents routes: create on the key that owns its files, then use only that key."""

from __future__ import annotations

import json

from aiohttp import web

from gpool.relay import relay, upstream_headers
from gpool.routes import RouteInfo
from gpool.routes.owned import VERSION, buffered, forward_owned, list_owned, remember
from gpool.state import KEY, MODEL, UPSTREAM, UPSTREAM_MODEL

__all__ = ["CREATE_ROUTE", "DELETE_ROUTE", "GET_ROUTE", "ROUTES", "UPDATE_ROUTE"]

CREATE_ROUTE = "caches.create"
GET_ROUTE = "caches.get"
UPDATE_ROUTE = "caches.update"
DELETE_ROUTE = "caches.delete"
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _target(request: web.Request) -> tuple[str, str]:
    name = f"cachedContents/{request.match_info['cache']}"
    return f"/{request.match_info['version']}/{name}", name


def _realias(body: bytes, target: str) -> bytes:
    """Name the upstream model where the client used an alias."""
    try:
        data = json.loads(body)
        data["model"] = f"models/{target}"
    except (ValueError, TypeError):
        return body  # not ours to judge: the upstream answers malformed bodies
    return json.dumps(data).encode()


async def create_cache(request: web.Request) -> web.StreamResponse:
    """POST /{v}/cachedContents: on the key owning the files it names (or any key)."""
    body = await request.read()
    if request[MODEL] != request[UPSTREAM_MODEL]:
        body = _realias(body, request[UPSTREAM_MODEL])
    path = f"/{request.match_info['version']}/cachedContents"
    async with request.app[UPSTREAM].open(
        request[KEY], "POST", path, query=request.query.items(), headers=request.headers, body=body
    ) as answer:
        if answer.body is not None or answer.status != 200:
            return await relay(request, answer)
        raw, data = await buffered(answer, request[KEY])
    await remember(request, data.get("name") if isinstance(data, dict) else None)
    headers = upstream_headers(answer.headers)
    return web.Response(status=answer.status, reason=answer.reason, body=raw, headers=headers)


async def get_cache(request: web.Request) -> web.StreamResponse:
    path, name = _target(request)
    return await forward_owned(request, "GET", path, name)


async def update_cache(request: web.Request) -> web.StreamResponse:
    """PATCH /{v}/cachedContents/{cache}: a new ttl or expireTime."""
    path, name = _target(request)
    return await forward_owned(request, "PATCH", path, name, body=await request.read())


async def delete_cache(request: web.Request) -> web.StreamResponse:
    path, name = _target(request)
    return await forward_owned(request, "DELETE", path, name)


async def list_caches(request: web.Request) -> web.Response:
    """GET /{v}/cachedContents: the calling client's caches only."""
    return await list_owned(request, "cachedContents", default_page=DEFAULT_PAGE, max_page=MAX_PAGE)


_PINNED = RouteInfo("google", keyed=True)
_COLLECTION = f"/{VERSION}/cachedContents"
_ONE = _COLLECTION + "/{cache:[^/:]+}"
ROUTES = (
    (
        CREATE_ROUTE,
        "POST",
        _COLLECTION,
        create_cache,
        RouteInfo("google", keyed=True, model_from="body"),
    ),
    ("caches.list", "GET", _COLLECTION, list_caches, RouteInfo("google")),
    (GET_ROUTE, "GET", _ONE, get_cache, _PINNED),
    (UPDATE_ROUTE, "PATCH", _ONE, update_cache, _PINNED),
    (DELETE_ROUTE, "DELETE", _ONE, delete_cache, _PINNED),
)
