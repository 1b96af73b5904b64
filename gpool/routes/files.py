"""Files API routes: upload (see ``uploads``), get, delete and list, each file on its own key."""

from __future__ import annotations

from aiohttp import web

from gpool.routes import RouteInfo, uploads
from gpool.routes.owned import VERSION, forward_owned, list_owned

__all__ = ["DELETE_ROUTE", "GET_ROUTE", "ROUTES"]

GET_ROUTE = "files.get"
DELETE_ROUTE = "files.delete"
#: Google's own paging for files.list.
DEFAULT_PAGE, MAX_PAGE = 10, 100


def _target(request: web.Request) -> tuple[str, str]:
    name = f"files/{request.match_info['file']}"
    return f"/{request.match_info['version']}/{name}", name


async def get_file(request: web.Request) -> web.StreamResponse:
    """GET /{v}/files/{file}: the file's metadata, from the key that uploaded it."""
    path, name = _target(request)
    return await forward_owned(request, "GET", path, name)


async def delete_file(request: web.Request) -> web.StreamResponse:
    """DELETE /{v}/files/{file}: on the owning key; gpool forgets the file once it is gone."""
    path, name = _target(request)
    return await forward_owned(request, "DELETE", path, name)


async def list_files(request: web.Request) -> web.Response:
    """GET /{v}/files: the calling client's files only, gathered from every key holding some."""
    return await list_owned(request, "files", default_page=DEFAULT_PAGE, max_page=MAX_PAGE)


_PINNED = RouteInfo("google", keyed=True)
_ONE = f"/{VERSION}/files/{{file:[^/:]+}}"
ROUTES = (
    *uploads.ROUTES,
    ("files.list", "GET", f"/{VERSION}/files", list_files, RouteInfo("google")),
    (GET_ROUTE, "GET", _ONE, get_file, _PINNED),
    (DELETE_ROUTE, "DELETE", _ONE, delete_file, _PINNED),
)
