"""Google's wire formats: JSON rendering, error bodies, headers and the HTML 404 page."""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp import web

__all__ = [
    "HEADERS",
    "JSON_TYPE",
    "FakeError",
    "compact",
    "error_body",
    "error_dict",
    "error_response",
    "html_not_found",
    "json_response",
    "pretty",
]

JSON_TYPE = "application/json; charset=UTF-8"
SSE_TYPE = "text/event-stream"
HTML_TYPE = "text/html; charset=UTF-8"
RPC = "type.googleapis.com/google.rpc."

# Headers Google puts on every answer; a gateway should not mistake them for its own.
HEADERS: dict[str, str] = {
    "Vary": "Origin, X-Origin, Referer",
    "Server": "scaffolding on HTTPServer2",
    "X-XSS-Protection": "0",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Server-Timing": "gfet4t7; dur=1",
}
_JSON_HEADERS = {**HEADERS, "Content-Type": JSON_TYPE}
_HTML_HEADERS = {**HEADERS, "Content-Type": HTML_TYPE}

STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class FakeError(Exception):
    """A Google error the fake answers with; raised by the pure request code."""

    def __init__(
        self, code: int, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return error_dict(self.code, self.message, self.details)


def _escape(text: str) -> str:
    # Google's serializer escapes these two so JSON is safe to embed in HTML.
    if "<" in text:
        text = text.replace("<", "\\u003c")
    if ">" in text:
        text = text.replace(">", "\\u003e")
    return text


def pretty(obj: Any) -> str:
    """Unary style: 2-space indent, ``<``/``>`` escaped, UTF-8 kept as is."""
    return _escape(json.dumps(obj, indent=2, ensure_ascii=False))


def compact(obj: Any) -> str:
    """SSE style: one line, ``": "`` after keys and bare commas between items, as Google sends."""
    return _escape(json.dumps(obj, separators=(",", ": "), ensure_ascii=False))


def error_dict(code: int, message: str, details: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The ``{"error": {...}}`` object; ``details`` is left out when there are none."""
    inner: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        inner["details"] = details
    return {"error": inner}


def error_body(code: int, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return pretty(error_dict(code, message, details)).encode()


def json_response(text: str | bytes, status: int = 200) -> web.Response:
    body = text.encode() if isinstance(text, str) else text
    return web.Response(body=body, status=status, headers=_JSON_HEADERS)


def error_response(err: FakeError) -> web.Response:
    return json_response(error_body(err.code, err.message, err.details), err.code)


_NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 404 (Not Found)!!1</title>
  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>
  <p><b>404.</b> <ins>That’s an error.</ins>
  <p>The requested URL <code>{path}</code> was not found on this server.  \
<ins>That’s all we know.</ins>
"""


def html_not_found(path: str) -> web.Response:
    """Google's HTML 404 page, the answer to any path the API does not serve."""
    body = _NOT_FOUND_PAGE.format(path=html.escape(path)).encode()
    return web.Response(body=body, status=404, headers=_HTML_HEADERS)
