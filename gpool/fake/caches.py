"""The fake cachedContents API: create, list, get, patch and delete, per project."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from .catalog import CATALOG
from .faults import invalid_argument, not_found
from .files import page_of
from .projects import FAKE_PROJECTS, FakeCache, cache_denied, check_files, refuse_key
from .reading import count_tokens, parse_body, pick
from .state import CALL
from .wire import FakeError, error_response, json_response, pretty

__all__ = ["add_cache_routes"]

DEFAULT_TTL = 3600.0
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]{1,9})?)s$")


def _expiry(body: dict[str, Any], now: float) -> float | None:
    """When a cache expires, from ``ttl`` ("300s") or ``expireTime`` (RFC 3339)."""
    ttl, expire = pick(body, "ttl"), pick(body, "expireTime")
    if ttl is not None:
        match = _DURATION.match(ttl) if isinstance(ttl, str) else None
        if match is None:
            raise invalid_argument(f"Invalid value at 'cached_content.ttl' ({str(ttl)[:32]})")
        return now + float(match.group(1))
    if expire is not None:
        try:
            return datetime.fromisoformat(str(expire).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise invalid_argument(
                f"Invalid value at 'cached_content.expire_time' ({str(expire)[:32]})"
            ) from None
    return None


def _create(request: web.Request, project: str) -> web.Response:
    projects = request.app[FAKE_PROJECTS]
    body = parse_body(request[CALL].body)
    raw_model = pick(body, "model")
    if not isinstance(raw_model, str) or not raw_model:
        raise invalid_argument("Model name is required.", "cached_content.model")
    model_id = raw_model.removeprefix("models/")
    model = CATALOG.get(model_id)
    version = request[CALL].api_version
    if model is None or "createCachedContent" not in model.methods:
        raise not_found(model_id, version, "createCachedContent")
    check_files(body, project, projects)
    now = time.time()
    expires = _expiry(body, now)
    display = pick(body, "displayName")
    tokens, _ = count_tokens(pick(body, "contents"), pick(body, "systemInstruction"))
    cache = FakeCache(
        id=projects.new_id(),
        project=project,
        model=f"models/{model_id}",
        display_name=display if isinstance(display, str) else None,
        tokens=tokens,
        created=now,
        updated=now,
        expires=expires if expires is not None else now + DEFAULT_TTL,
    )
    projects.caches[cache.id] = cache
    return json_response(pretty(cache.to_json()))


def _one(request: web.Request, project: str, cache_id: str) -> web.Response:
    projects = request.app[FAKE_PROJECTS]
    cache = projects.cache_of(project, cache_id)
    if cache is None:
        raise cache_denied(cache_id)
    if request.method == "DELETE":
        del projects.caches[cache_id]
        return json_response(pretty({}))
    if request.method == "PATCH":
        now = time.time()
        expires = _expiry(parse_body(request[CALL].body), now)
        if expires is not None:
            cache.expires = expires
        cache.updated = now
    return json_response(pretty(cache.to_json()))


async def _caches(request: web.Request) -> web.StreamResponse:
    """Every cachedContents call: only the calling key's project is visible."""
    cache_id = request.match_info.get("cache")
    if cache_id is None:
        verb = "create" if request.method == "POST" else "list"
    else:
        verb = {"DELETE": "delete", "PATCH": "patch"}.get(request.method, "get")
    request[CALL].method_name = f"cachedContents.{verb}"
    refused = refuse_key(request)
    if refused is not None:
        return refused
    project = request[CALL].key or ""
    try:
        if verb == "create":
            return _create(request, project)
        if cache_id is not None:
            return _one(request, project, cache_id)
        projects = request.app[FAKE_PROJECTS]
        mine = [c for c in list(projects.caches.values()) if c.project == project]
        live = [c for c in mine if projects.cache_of(project, c.id) is not None]
        live.sort(key=lambda c: c.created, reverse=True)
        page, following = page_of(live, request.query, 100, 1000)
        listing: dict[str, Any] = {}
        if page:
            listing["cachedContents"] = [c.to_json() for c in page]
        if following:
            listing["nextPageToken"] = following
        return json_response(pretty(listing))
    except FakeError as err:
        return error_response(err)


def add_cache_routes(app: web.Application, versions: str) -> None:
    collection = f"/{{version:{versions}}}/cachedContents"
    app.router.add_post(collection, _caches)
    app.router.add_get(collection, _caches)
    one = collection + "/{cache:[^/:]+}"
    app.router.add_get(one, _caches)
    app.router.add_patch(one, _caches)
    app.router.add_delete(one, _caches)
