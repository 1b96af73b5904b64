"""Writing answers over time: the two stream framings, pauses, and hanging up."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .faults import status_error
from .generate import stream_events
from .plan import Plan
from .state import FakeState
from .wire import HEADERS, JSON_TYPE, SSE_TYPE, compact, pretty

__all__ = ["hang_up", "pause", "write_stream"]

_STREAM_HEADERS = {**HEADERS, "Content-Disposition": "attachment"}
_SSE_HEADERS = {**_STREAM_HEADERS, "Content-Type": SSE_TYPE}
_ARRAY_HEADERS = {**_STREAM_HEADERS, "Content-Type": JSON_TYPE}
_POLL = 0.25  # how often a held request looks for a hang-up or a shutdown


def hang_up(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then fails quietly to send this one."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response()


async def pause(request: web.Request, state: FakeState, seconds: float) -> bool:
    """Sleep, but give up early (False) when the client hangs up or the server shuts down."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        transport = request.transport
        if state.closing or transport is None or transport.is_closing():
            return False
        left = deadline - loop.time()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, _POLL))


def frame(obj: Any, index: int, sse: bool) -> bytes:
    """One event: ``data: {compact}\\r\\n\\r\\n``, or the next piece of the pretty JSON array."""
    if sse:
        return f"data: {compact(obj)}\r\n\r\n".encode()
    return (("[" if index == 0 else "\n,\r\n") + pretty(obj)).encode()


async def write_stream(
    request: web.Request, state: FakeState, plan: Plan, rid: str, *, cut: bool
) -> web.StreamResponse:
    """Write the events one by one (``?alt=sse`` or the JSON array), faults on the way."""
    events = stream_events(plan, rid)
    sse = request.query.get("alt") == "sse"
    delay = state.options.chunk_delay if plan.delay is None else plan.delay
    resp = web.StreamResponse(headers=_SSE_HEADERS if sse else _ARRAY_HEADERS)
    try:
        await resp.prepare(request)
        for i, event in enumerate(events):
            if i and delay > 0 and not await pause(request, state, delay):
                hang_up(request)
                return resp
            await resp.write(frame(event, i, sse))
            if i == 0 and cut:
                hang_up(request)  # no terminating chunk, and no finishReason ever
                return resp
            if i == 0 and plan.midstream is not None:
                err = status_error(plan.midstream, plan.model.id, "streamGenerateContent", 0.0)
                await resp.write(frame(err.to_dict(), 1, sse))
                break
        if not sse:
            await resp.write(b"\n]")
    except ConnectionError:
        pass  # the client went away; nothing left to tell it
    return resp
