"""What the files and cachedContents routes share: owners, pinned pass-through, listings."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gpool.errors import BadRequest, RequestError, UpstreamHTTPError
from gpool.keys import Effect, PoolKey, Verdict
from gpool.middlewares.auth import ANONYMOUS
from gpool.relay import relay
from gpool.resources import ResourceOwner
from gpool.state import CLIENT, KEY, POOL, RESOURCES, UPSTREAM
from gpool.upstream import UpstreamResponse, map_errors

__all__ = [
    "VERSION",
    "ResourceNotFound",
    "buffered",
    "client_of",
    "forward_owned",
    "google_json",
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


def google_json(data: object) -> web.Response:
    """JSON as Google prints it: 2-space indents, ``<`` and ``>`` escaped."""
    text = json.dumps(data, indent=2).replace("<", "\\u003c").replace(">", "\\u003e")
    return web.Response(text=text, content_type="application/json", charset="UTF-8")


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
    size = _page_size(request.query.get("pageSize"), default_page, max_page)
    start = _page_start(request.query.get("pageToken"))
    listing: dict[str, object] = {}
    if items[start : start + size]:
        listing[collection] = items[start : start + size]
    if start + size < len(items):
        listing["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return google_json(listing)


def _page_size(raw: str | None, default: int, maximum: int) -> int:
    if not raw:
        return default
    if not raw.isdigit():
        raise BadRequest(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw[:32]}\"")
    return min(int(raw), maximum) or default


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error):
        start = -1
    if start < 0:
        raise BadRequest("Invalid page token.")
    return start
