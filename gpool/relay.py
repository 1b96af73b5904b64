"""The only place that writes an upstream answer back to the client, chunk by chunk."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from multidict import CIMultiDict

from gpool.errors import UpstreamFailure
from gpool.keys import transient
from gpool.state import KEY, STREAM_FAILURE
from gpool.upstream import UPSTREAM_ERRORS, UpstreamResponse, as_failure

__all__ = ["relay"]

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

# Bytes that end a stream properly: a finishReason, or an error the upstream reported itself
# (an SSE error event, or an error element of the JSON array, which Google pretty-prints).
_ENDINGS = (b'"finishReason"', b'data: {"error"', b'{\n  "error"')
_CUT_MESSAGE = "gpool: the upstream stream ended before the answer was finished"


async def relay(
    request: web.Request, answer: UpstreamResponse, *, expect_finish: bool = False
) -> web.StreamResponse:
    """Stream ``answer`` to the client as it arrives.

    Once the first byte is out, failover is impossible: an upstream failure (or, with
    ``expect_finish``, a stream that ends with no ``finishReason``) is reported inside the
    stream's own framing, never as a clean end.
    """
    headers = CIMultiDict(
        (k, v) for k, v in answer.headers.items() if k.lower() not in _DROP_RESPONSE
    )
    response = web.StreamResponse(status=answer.status, reason=answer.reason, headers=headers)
    if answer.body is not None:
        response.content_length = len(answer.body)
        await response.prepare(request)
        await response.write(answer.body)
        await response.write_eof()
        return response
    if not expect_finish and "Content-Encoding" not in answer.headers:
        length = answer.headers.get("Content-Length")
        if length is not None and length.isdigit():
            response.content_length = int(length)
    await response.prepare(request)

    sse = answer.headers.get("Content-Type", "").startswith("text/event-stream")
    finished = not expect_finish
    last = b""  # the latest chunk, to find a finishReason split across two chunks
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
        if not finished:
            window = last[-16:] + chunk
            finished = any(marker in window for marker in _ENDINGS)
        last = chunk
        try:
            await response.write(chunk)
        except ConnectionResetError:
            # The client went away: returning closes the upstream request at once.
            log.info("client disconnected mid-stream")
            return response
    if failure is None and not finished:
        failure = UpstreamFailure(_CUT_MESSAGE, transient("stream cut"))
    if failure is not None:
        request[STREAM_FAILURE] = failure.verdict
        log.warning("upstream stream failed after the first byte: %s", failure.message)
        try:
            await response.write(_error_frame(failure, sse=sse, last=last))
        except ConnectionResetError:
            return response
    await response.write_eof()
    return response


def _error_frame(failure: UpstreamFailure, *, sse: bool, last: bytes) -> bytes:
    """An error in the stream's framing: an SSE event, or an element closing the JSON array.

    A stream cut inside an event is first closed, so the client sees a broken event and
    then the error rather than a silently shortened answer.
    """
    error = {"error": {"code": 503, "message": failure.message, "status": "UNAVAILABLE"}}
    if sse:
        prefix = b"" if not last or last.endswith(b"\n\n") else b"\r\n\r\n"
        return prefix + b"data: " + json.dumps(error).encode() + b"\r\n\r\n"
    element = json.dumps(error, indent=2).encode()
    return b"[" + element + b"]" if not last else b"\n,\r\n" + element + b"\n]"
