"""Resource affinity: the one key a request must use for the files and caches it names."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from yarl import URL

from gpool.errors import BadRequest
from gpool.keys import KeyPool, PoolKey
from gpool.resources import ResourceMap
from gpool.routes import caches, files, uploads
from gpool.routes.owned import ResourceNotFound, client_of
from gpool.state import BODY

__all__ = ["Affinity", "ResourceNotFound", "file_name", "references"]

GOOGLE_HOST = "generativelanguage.googleapis.com"
_FILE_PATH = re.compile(r"^(?:/[^/]+)*?/(?:v1beta|v1alpha|v1)/(files/[^/?#:]+)$")
_FILE_NAME = re.compile(r"^files/[^/?#:]+$")
_CACHE_NAME = re.compile(r"^cachedContents/[^/?#:]+$")


def file_name(uri: str, hosts: frozenset[str]) -> str | None:
    """``files/<id>`` for a Files API uri (bare, or absolute on one of ``hosts``), else None."""
    if _FILE_NAME.match(uri):
        return uri
    if not uri.startswith(("https://", "http://")):
        return None
    url = URL(uri)
    match = _FILE_PATH.match(url.path)
    return match.group(1) if match and url.host in hosts else None


def references(body: Any, hosts: frozenset[str]) -> list[str]:
    """Every file (``fileData.fileUri``) and cached content a request body names."""
    found: list[str] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        for key, value in node.items():
            if key in ("fileData", "file_data") and isinstance(value, Mapping):
                uri = value.get("fileUri", value.get("file_uri"))
                name = file_name(uri, hosts) if isinstance(uri, str) else None
                if name is not None:
                    found.append(name)
            elif key in ("cachedContent", "cached_content") and isinstance(value, str):
                if _CACHE_NAME.match(value):
                    found.append(value)
            elif isinstance(value, Mapping | list):
                stack.append(value)
    return found


def _google_extra(body: Mapping[str, Any]) -> Mapping[str, Any]:
    top = body.get("google")
    if isinstance(top, Mapping):
        return top
    extra = body.get("extra_body")
    nested = extra.get("google") if isinstance(extra, Mapping) else None
    return nested if isinstance(nested, Mapping) else {}


_Finder = Callable[["Affinity", web.Request], Awaitable[list[str]]]


class Affinity:
    """Answers the key selection middleware's ``pin_for`` from a ``ResourceMap``.

    It costs nothing for requests that name no resource: a native body is parsed only
    when its bytes contain ``files/`` or ``cachedContents/``.
    """

    def __init__(
        self, resources: ResourceMap, pool: KeyPool, *, upstream_url: str | None = None
    ) -> None:
        self.resources = resources
        self.pool = pool
        hosts = {GOOGLE_HOST}
        if upstream_url:
            hosts.add(URL(upstream_url).host or GOOGLE_HOST)
        self.hosts = frozenset(hosts)

    async def pin_for(self, request: web.Request) -> PoolKey | None:
        """The key that owns what ``request`` uses, or None when it may use any key."""
        route = request.match_info.route.name or ""
        if route == uploads.SESSION_ROUTE:
            return self._session_key(request)
        finder = _FINDERS.get(route)
        if finder is None:
            return None
        names = await finder(self, request)
        return await self.owner_key(request, names) if names else None

    async def owner_key(self, request: web.Request, names: Iterable[str]) -> PoolKey | None:
        """The one key owning every resource in ``names``, all of which the client must own."""
        client = client_of(request)
        found: dict[str, str] = {}  # key_id -> the first resource it owns
        for name in dict.fromkeys(names):
            owner = await self.resources.owner(name)
            if owner is None or owner.client != client or self.pool.by_id(owner.key_id) is None:
                raise ResourceNotFound(f"{name} was not found.")
            found.setdefault(owner.key_id, name)
        if len(found) > 1:
            first, second = list(found.values())[:2]
            raise BadRequest(
                f"{first} and {second} live in different Google Cloud projects (API keys of "
                "this gateway); one request can only use the files and cached contents of one."
            )
        return self.pool.by_id(next(iter(found))) if found else None

    def _session_key(self, request: web.Request) -> PoolKey:
        # Whatever gpool answers now ends the upload for the client (see mark_final).
        uploads.mark_final(request)
        session = uploads.find_session(request)
        key = None if session is None else self.pool.by_id(session.key_id)
        if key is None:
            raise ResourceNotFound("The upload session was not found or has expired.")
        return key

    async def _native(self, request: web.Request) -> list[str]:
        raw = await request.read()  # aiohttp keeps it: the handler reads the same bytes
        if b"files/" not in raw and b"cachedContents/" not in raw:
            return []
        try:
            body = json.loads(raw)
        except ValueError:
            return []  # not ours to judge: the upstream answers malformed bodies
        return references(body, self.hosts)

    async def _parsed(self, request: web.Request) -> list[str]:
        return references(request.get(BODY), self.hosts)

    async def _openai(self, request: web.Request) -> list[str]:
        cached = _google_extra(request.get(BODY) or {})
        name = cached.get("cached_content", cached.get("cachedContent"))
        return [name] if isinstance(name, str) and _CACHE_NAME.match(name) else []

    async def _file_path(self, request: web.Request) -> list[str]:
        return [f"files/{request.match_info['file']}"]

    async def _cache_path(self, request: web.Request) -> list[str]:
        return [f"cachedContents/{request.match_info['cache']}"]


# Keyed routes whose requests may name a resource, and where to look for it.
_FINDERS: dict[str, _Finder] = {
    "gemini.call": Affinity._native,
    "openai.chat": Affinity._openai,
    files.GET_ROUTE: Affinity._file_path,
    files.DELETE_ROUTE: Affinity._file_path,
    caches.CREATE_ROUTE: Affinity._parsed,
    caches.GET_ROUTE: Affinity._cache_path,
    caches.UPDATE_ROUTE: Affinity._cache_path,
    caches.DELETE_ROUTE: Affinity._cache_path,
}
