"""What the files and cachedContents routes share: owners, pinned pass-through, listings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gpool.errors import RequestError, UpstreamHTTPError
from gpool.keys import Effect, PoolKey, Verdict
from gpool.middlewares.auth import ANONYMOUS
from gpool.relay import relay
from gpool.resources import ResourceOwner
from gpool.routes.paging import google_json, page
from gpool.state import CLIENT, KEY, POOL, RESOURCES, UPSTREAM
from gpool.upstream import UpstreamResponse, map_errors

__all__ = [
    "VERSION",
    "ResourceNotFound",
    "buffered",
    "client_of",
    "forward_owned",
    "list_owned",
    "remember",
]

VERSION = "{version:v1beta|v1|v1alpha}"
#: Upstream pages walked per key in one listing, at most: a runaway token cannot loop forever.
MAX_UPSTREAM_PAGES = 200
_CLIENT_ERROR = Verdict(Effect.NONE, retry=False, reason="client error")


class ResourceNotFound(RequestError):
    """404: a file, cached content or upload session this client does not own, or none at all."""

    status = 404
    google_status = "NOT_FOUND"
    openai_type = "invalid_request_error"
    openai_code = "resource_not_found"


def client_of(request: web.Request) -> str:
    """Who is calling, as auth named them; an open gpool has one anonymous client."""
    client: str = request.get(CLIENT, ANONYMOUS)
    return client


async def remember(request: web.Request, name: object, client: str | None = None) -> None:
    """Record that the key of this attempt and the client (the caller's) own ``name``."""
    if isinstance(name, str) and name:
        owner = ResourceOwner(request[KEY].key_id, client or client_of(request))
        await request.app[RESOURCES].remember(name, owner)


async def buffered(answer: UpstreamResponse, key: PoolKey) -> tuple[bytes, Any]:
    """A small successful answer read whole, and its JSON (None if it is not JSON)."""
    with map_errors(key):
        raw = await answer.raw.read()
    try:
        return raw, json.loads(raw)
    except ValueError:
        return raw, None


async def forward_owned(
    request: web.Request, method: str, path: str, name: str, *, body: bytes | None = None
) -> web.StreamResponse:
    """Pass a call on one resource through on the key that owns it (pinned by affinity).

    A successful delete, or an upstream that no longer knows the resource (files expire
    after 48 hours), makes gpool forget it too.
    """
    async with request.app[UPSTREAM].open(
        request[KEY], method, path, query=request.query.items(), headers=request.headers, body=body
    ) as answer:
        gone = answer.status in (403, 404) or (method == "DELETE" and answer.status == 200)
        if gone:
            await request.app[RESOURCES].forget(name)
        return await relay(request, answer)


async def _list_upstream(
    request: web.Request, key: PoolKey, collection: str, page_size: int
) -> list[Mapping[str, Any]]:
    """Every entry of ``collection`` the key's project holds, page after page."""
    path = f"/{request.match_info['version']}/{collection}"
    entries: list[Mapping[str, Any]] = []
    token = ""
    for _ in range(MAX_UPSTREAM_PAGES):
        query = [("pageSize", str(page_size))] + ([("pageToken", token)] if token else [])
        async with request.app[UPSTREAM].open(key, "GET", path, query=query) as answer:
            if answer.body is not None:
                content_type = answer.headers.get("Content-Type", "application/json")
                raise UpstreamHTTPError(answer.status, answer.body, content_type, _CLIENT_ERROR)
            _, page = await buffered(answer, key)
        page = page if isinstance(page, Mapping) else {}
        found = page.get(collection)
        entries += [e for e in found if isinstance(e, Mapping)] if isinstance(found, list) else []
        token = page.get("nextPageToken") or ""
        if not isinstance(token, str) or not token:
            break
    return entries


async def list_owned(
    request: web.Request, collection: str, *, default_page: int, max_page: int
) -> web.Response:
    """GET /{v}/{collection}: the calling client's own entries, from each key that owns some.

    Paged here, newest first, with Google's ``pageSize``/``pageToken``. Entries the
    upstream no longer lists (expired) are forgotten.
    """
    resources = request.app[RESOURCES]
    owned = await resources.names_for(client_of(request), f"{collection}/")
    by_key: dict[str, set[str]] = {}
    for name, owner in owned:
        by_key.setdefault(owner.key_id, set()).add(name)
    items: list[Mapping[str, Any]] = []
    for key_id, names in by_key.items():
        key = request.app[POOL].by_id(key_id)
        if key is None:
            continue
        mine = [
            e
            for e in await _list_upstream(request, key, collection, max_page)
            if e.get("name") in names
        ]
        for gone in names - {e.get("name") for e in mine}:
            await resources.forget(gone)
        items += mine
    items.sort(key=lambda e: str(e.get("createTime", "")), reverse=True)
    listing = page(
        items, request.query, collection, default=default_page, maximum=max_page, keep_empty=False
    )
    return google_json(listing)
