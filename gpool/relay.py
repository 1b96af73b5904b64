"""The only place that writes an upstream answer back to the client, chunk by chunk."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from gpool.errors import UpstreamFailure
from gpool.keys import transient
from gpool.state import KEY, STREAM_FAILURE, TOKENS
from gpool.streams import StreamIncomplete, StreamTransform
from gpool.upstream import UPSTREAM_ERRORS, UpstreamResponse, as_failure

__all__ = ["relay", "upstream_headers"]

log = logging.getLogger("gpool.relay")

# Upstream response headers that describe the upstream connection, not the answer.
_DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-encoding",
        "content-length",
        "alt-svc",
        "server",
        "date",
        "set-cookie",
    }
)


def upstream_headers(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """The upstream's response headers that still hold once relayed."""
    return CIMultiDict(_kept(headers))


def _kept(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in _DROP_RESPONSE]


async def relay(
    request: web.Request,
    answer: UpstreamResponse,
    transform: StreamTransform | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``answer`` to the client as it arrives, through ``transform`` if given.

    Once the first byte is out, failover is impossible: an upstream failure, or an answer
    the transform finds incomplete, is reported in the stream's own framing, never as a
    clean end.
    """
    response = web.StreamResponse(status=answer.status, reason=answer.reason)
    if headers is None:
        response.headers.extend(_kept(answer.headers))
    else:
        response.headers.extend(headers)
    if answer.body is not None:
        response.content_length = len(answer.body)
        await response.prepare(request)
        await response.write(answer.body)
        await response.write_eof()
        return response
    length = answer.headers.get("Content-Length", "")
    same_bytes = transform is None or transform.same_bytes
    if same_bytes and length.isdigit() and "Content-Encoding" not in answer.headers:
        response.content_length = int(length)
    await response.prepare(request)

    failure: UpstreamFailure | None = None
    content = answer.raw.content
    while True:
        try:
            chunk = await content.readany()
        except UPSTREAM_ERRORS as exc:
            failure = as_failure(exc, request[KEY])
            break
        if not chunk:
            break
        if transform is not None:
            try:
                chunk = transform.feed(chunk)
            except StreamIncomplete as exc:
                failure = UpstreamFailure(exc.message, transient("upstream stream error"))
                break
        if chunk and not await _write(response, chunk):
            return response
    tail = b""
    if failure is None and transform is not None:
        try:
            tail = transform.finish()
        except StreamIncomplete as exc:
            failure = UpstreamFailure(exc.message, transient("stream cut"))
    if transform is not None and transform.tokens:
        request[TOKENS] = transform.tokens
    if failure is not None:
        request[STREAM_FAILURE] = failure.verdict
        log.warning("upstream stream failed after the first byte: %s", failure.message)
        tail = transform.error_frame(failure.message) if transform is not None else b""
    if tail and not await _write(response, tail):
        return response
    await response.write_eof()
    return response


async def _write(response: web.StreamResponse, data: bytes) -> bool:
    """Write to the client; False once it has gone, which ends the relay and the upstream call."""
    try:
        await response.write(data)
    except ConnectionResetError:
        log.info("client disconnected mid-stream")
        return False
    return True
