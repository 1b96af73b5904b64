"""Google-shaped list pages over lists gpool holds itself, and Google's JSON style."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from gpool.errors import BadRequest

__all__ = ["google_json", "page"]


def page(
    items: Sequence[Any],
    query: Mapping[str, str],
    field: str,
    *,
    default: int = 50,
    maximum: int = 1000,
    keep_empty: bool = True,
) -> dict[str, object]:
    """``{field: [...], "nextPageToken": ...}`` for ``pageSize`` and ``pageToken``.

    The token is opaque to clients (an offset); Google leaves the list out of an empty
    page for some collections (``keep_empty=False``).
    """
    size = _page_size(query.get("pageSize"), default, maximum)
    start = _page_start(query.get("pageToken"))
    chunk = list(items[start : start + size])
    listing: dict[str, object] = {field: chunk} if chunk or keep_empty else {}
    if start + size < len(items):
        listing["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return listing


def google_json(data: object) -> web.Response:
    """Pretty-printed with ``<`` and ``>`` escaped, as Google writes its JSON."""
    text = json.dumps(data, indent=2).replace("<", "\\u003c").replace(">", "\\u003e")
    return web.Response(text=text, content_type="application/json", charset="UTF-8")


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
