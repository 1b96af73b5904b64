"""The load generator: closed-loop asyncio clients on keep-alive connections opened beforehand.

``wrk`` cannot time the first byte of a stream nor hold a thousand streams open, so this
is an aiohttp client doing as little as it can per request: bodies are encoded once,
connections are reused, and a response is read as raw chunks, never parsed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

__all__ = [
    "HeldResult",
    "MixedResult",
    "RequestSpec",
    "WindowResult",
    "client_session",
    "closed_loop",
    "fetch_body",
    "hold_streams",
    "mixed",
]

_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10)
_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)
_DRAIN = 2.0  # seconds the requests in flight get to end after a measured window


@dataclass(frozen=True)
class RequestSpec:
    """One kind of request, ready to send again and again."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    stream: bool = False
    hang_up_after_first: bool = False  # the client leaves mid-stream (leak check only)
    expect_status: int = 200


@dataclass
class WindowResult:
    """What completed inside the measured window of a closed-loop run."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # send to last byte, seconds
    ttfbs: list[float] = field(default_factory=list)  # send to first body byte (streams)
    first_error: str | None = None


@dataclass
class HeldResult:
    """Streams held open at once through one target."""

    wanted: int
    open_at_peak: int = 0  # streams that had their first byte and had not ended, at best
    open_while_sampled: int = 0  # the fewest open while ``while_open`` ran
    open_seconds: float = math.nan  # from the first send until every stream was open
    completed: int = 0
    errors: int = 0
    first_error: str | None = None


@dataclass
class MixedResult:
    """A fixed number of requests of several kinds."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_error: str | None = None


def client_session(limit: int) -> aiohttp.ClientSession:
    """A session of at most ``limit`` keep-alive connections (0: no limit)."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, keepalive_timeout=120)
    return aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT, auto_decompress=False)


async def _send(session: aiohttp.ClientSession, spec: RequestSpec) -> float:
    """Send one request and read all of it; return the first body byte's time (or NaN)."""
    async with session.post(spec.url, data=spec.body, headers=spec.headers) as resp:
        if resp.status != spec.expect_status:
            await resp.read()
            raise _StatusError(resp.status, spec.expect_status)
        if not spec.stream:
            await resp.read()
            return math.nan
        content = resp.content
        await content.readany()
        first = time.perf_counter()
        if spec.hang_up_after_first:
            resp.close()
            return first
        while await content.readany():
            pass
        return first


class _StatusError(Exception):
    def __init__(self, status: int, expected: int) -> None:
        super().__init__(f"HTTP {status}, expected {expected}")


async def fetch_body(spec: RequestSpec) -> tuple[int, bytes]:
    """One request, status and whole body, to check that a target answers correctly."""
    async with (
        client_session(1) as session,
        session.post(spec.url, data=spec.body, headers=spec.headers) as resp,
    ):
        return resp.status, await resp.read()


async def closed_loop(
    spec: RequestSpec,
    session: aiohttp.ClientSession,
    concurrency: int,
    warmup: float,
    duration: float,
    mark: Callable[[str], None],
) -> WindowResult:
    """``concurrency`` clients send back to back: ``warmup`` seconds, then a measured window.

    ``mark("start")`` and ``mark("end")`` run at the window's edges (to read /proc there).
    Requests that complete inside the window are counted. ``session`` keeps its
    connections between calls; the warm-up opens any that are missing, so no connection
    is opened inside the window.
    """
    result = WindowResult()
    measuring = False
    stopping = False

    async def client() -> None:
        while not stopping:
            sent = time.perf_counter()
            try:
                first = await _send(session, spec)
            except (_StatusError, *_ERRORS) as exc:
                if measuring:
                    result.errors += 1
                    result.first_error = result.first_error or repr(exc)
                await asyncio.sleep(0.01)  # an error must not become a busy loop
                continue
            if measuring:
                done = time.perf_counter()
                result.requests += 1
                result.latencies.append(done - sent)
                if spec.stream:
                    result.ttfbs.append(first - sent)

    tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    mark("start")
    started = time.perf_counter()
    measuring = True
    await asyncio.sleep(duration)
    measuring = False
    result.seconds = time.perf_counter() - started
    mark("end")
    stopping = True
    # Let the requests in flight end; a slow scenario's are cut short (they are outside
    # the window already), or the next measurement would wait for them.
    _, late = await asyncio.wait(tasks, timeout=_DRAIN)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return result


async def hold_streams(
    spec: RequestSpec,
    count: int,
    while_open: Callable[[], Awaitable[None]],
    *,
    open_parallel: int = 64,
    open_timeout: float = 60.0,
) -> HeldResult:
    """Open ``count`` slow streams at once, await ``while_open()`` once all are open, drain.

    At most ``open_parallel`` requests wait for their first byte at a time, so the
    servers' listen backlogs never overflow (an overflow costs a one-second SYN retry).
    """
    result = HeldResult(wanted=count)
    gate = asyncio.Semaphore(open_parallel)
    all_open = asyncio.Event()
    open_now = 0

    async def stream(session: aiohttp.ClientSession) -> None:
        nonlocal open_now
        opened = False
        try:
            async with gate:
                resp = await session.post(spec.url, data=spec.body, headers=spec.headers)
                try:
                    if resp.status != spec.expect_status:
                        raise _StatusError(resp.status, spec.expect_status)
                    await resp.content.readany()
                except BaseException:
                    resp.close()
                    raise
            opened = True
            open_now += 1
            result.open_at_peak = max(result.open_at_peak, open_now)
            if open_now == count:
                all_open.set()
            async with resp:
                while await resp.content.readany():
                    pass
            result.completed += 1
        except (_StatusError, *_ERRORS) as exc:
            result.errors += 1
            result.first_error = result.first_error or repr(exc)
        finally:
            if opened:
                open_now -= 1

    async with client_session(0) as session:
        started = time.perf_counter()
        tasks = [asyncio.create_task(stream(session)) for _ in range(count)]
        try:
            await asyncio.wait_for(all_open.wait(), open_timeout)
        except TimeoutError:
            pass
        else:
            result.open_seconds = time.perf_counter() - started
            before = open_now
            await while_open()
            result.open_while_sampled = min(before, open_now)
        await asyncio.gather(*tasks)
    return result


async def mixed(specs: Sequence[RequestSpec], total: int, concurrency: int) -> MixedResult:
    """Send ``total`` requests, cycling through ``specs``, ``concurrency`` at a time."""
    result = MixedResult()
    issued = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < total:
            spec = specs[issued % len(specs)]
            issued += 1
            try:
                await _send(session, spec)
            except (_StatusError, *_ERRORS) as exc:
                result.errors += 1
                result.first_error = result.first_error or repr(exc)
                continue
            result.requests += 1

    started = time.perf_counter()
    async with client_session(concurrency) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
