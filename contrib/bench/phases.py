"""Measurements: loads against the targets, with each target's /proc read around them."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from load import RequestSpec, client_session, closed_loop, fetch_body, hold_streams, mixed
from procs import ProcSample, Service, fd_kinds, machine_busy_s
from scenarios import Scenario, held_spec, leak_specs

__all__ = ["measure_held", "measure_leak", "measure_pair", "percentile"]

MB = 1024 * 1024
_SLICE_WARMUP = 0.3  # seconds for a slice's clients to get going; connections stay open


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class _Tally:
    """One target's figures, summed over its slices."""

    requests: int = 0
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0
    cpu_s: float = 0.0
    load_s: float = 0.0
    machine_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfbs: list[float] = field(default_factory=list)
    slice_cpu_ms: list[float] = field(default_factory=list)
    last: ProcSample | None = None

    def row(self) -> dict[str, Any]:
        done, seconds, last = self.requests, self.seconds, self.last
        assert last is not None and seconds > 0
        return {
            "requests": done,
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": round(seconds, 3),
            "rps": done / seconds,
            "p50_ms": percentile(self.latencies, 50) * 1000,
            "p99_ms": percentile(self.latencies, 99) * 1000,
            "cpu_ms_per_req": self.cpu_s * 1000 / done if done else float("nan"),
            "cpu_ms_per_req_slices": [round(c, 4) for c in self.slice_cpu_ms],
            "cpu_util": self.cpu_s / seconds,
            "load_cpu_util": self.load_s / seconds,
            # Everything else the machine did meanwhile (other processes, steal): the noise.
            "other_cpu_util": (self.machine_s - self.cpu_s - self.load_s) / seconds,
            "rss_mb": last.rss_bytes / MB,
            "fds": last.fds,
        }


async def _check(scenario: Scenario, target: str, spec: RequestSpec) -> str | None:
    """Why ``target`` does not answer this scenario as it should, or None."""
    try:
        status, body = await fetch_body(spec)
    except (aiohttp.ClientError, OSError) as exc:
        return f"no answer: {exc}"
    return f"HTTP {status}" if status != 200 else scenario.check(target, body)


async def measure_pair(
    services: Sequence[Service],
    scenario: Scenario,
    concurrency: int,
    *,
    warmup: float,
    duration: float,
    slices: int,
    upstream: Service | None = None,
) -> list[dict[str, Any]]:
    """Each service's row for one scenario: ``duration`` seconds of closed-loop load each,
    in ``slices`` slices taken in turns, A B B A A B ...

    Noise on a shared machine comes and goes within seconds; slices taken in turns give
    both targets the same share of it, where one long window each would not. Only one
    target is under load at a time. With ``upstream`` given, the load side's CPU (this
    process and the fake upstream) is read too: near a full core, the load side, not
    the proxy, limits req/s.
    """
    specs = {s.name: scenario.spec(s.name, s.url) for s in services}
    rows = {
        s.name: {"scenario": scenario.name, "target": s.name, "concurrency": concurrency}
        for s in services
    }
    for service in services:
        problem = await _check(scenario, service.name, specs[service.name])
        if problem:
            rows[service.name]["invalid"] = problem
    live = [s for s in services if "invalid" not in rows[s.name]]
    tallies = {s.name: _Tally() for s in live}
    sessions = {s.name: client_session(concurrency) for s in live}
    try:
        for i in range(slices):
            for service in live if i % 2 == 0 else live[::-1]:
                await _slice(
                    service,
                    specs[service.name],
                    sessions[service.name],
                    tallies[service.name],
                    concurrency,
                    warmup=warmup if i == 0 else _SLICE_WARMUP,
                    duration=duration / slices,
                    upstream=upstream,
                )
    finally:
        await asyncio.gather(*(s.close() for s in sessions.values()))
    for name, tally in tallies.items():
        rows[name].update(tally.row())
        if scenario.stream:
            rows[name]["ttfb_p50_ms"] = percentile(tally.ttfbs, 50) * 1000
            rows[name]["ttfb_p99_ms"] = percentile(tally.ttfbs, 99) * 1000
    return [rows[s.name] for s in services]


async def _slice(
    service: Service,
    spec: RequestSpec,
    session: aiohttp.ClientSession,
    tally: _Tally,
    concurrency: int,
    *,
    warmup: float,
    duration: float,
    upstream: Service | None,
) -> None:
    edges: dict[str, tuple[ProcSample, float, float]] = {}

    def mark(edge: str) -> None:
        own = os.times()
        load = own.user + own.system + (upstream.sample().cpu_s if upstream else 0.0)
        edges[edge] = (service.sample(), load, machine_busy_s())

    window = await closed_loop(spec, session, concurrency, warmup, duration, mark)
    (start, load0, machine0), (end, load1, machine1) = edges["start"], edges["end"]
    cpu_s = end.cpu_s - start.cpu_s
    tally.requests += window.requests
    tally.errors += window.errors
    tally.first_error = tally.first_error or window.first_error
    tally.seconds += window.seconds
    tally.cpu_s += cpu_s
    tally.load_s += load1 - load0
    tally.machine_s += machine1 - machine0
    tally.latencies += window.latencies
    tally.ttfbs += window.ttfbs
    if window.requests:
        tally.slice_cpu_ms.append(cpu_s * 1000 / window.requests)
    tally.last = end


async def _warm(spec: RequestSpec, count: int, concurrency: int) -> None:
    result = await mixed([spec], count, concurrency)
    if result.errors:
        raise RuntimeError(f"warm-up failed: {result.errors} errors, first {result.first_error}")


async def measure_held(
    service: Service, target: str, count: int, *, chunks: int, delay_ms: int
) -> dict[str, Any]:
    """RSS of ``service`` idle, then with ``count`` slow streams open through it at once."""
    quick = held_spec(target, service.url, 3, 0)
    await _warm(quick, 200, 16)
    await asyncio.sleep(0.5)
    idle = service.sample()
    during: list[ProcSample] = []

    async def while_open() -> None:
        for _ in range(5):
            during.append(service.sample())
            await asyncio.sleep(0.2)

    started = time.perf_counter()
    held = await hold_streams(held_spec(target, service.url, chunks, delay_ms), count, while_open)
    peak = max(during, key=lambda s: s.rss_bytes) if during else None
    row: dict[str, Any] = {
        "target": target,
        "wanted": count,
        "open_at_peak": held.open_at_peak,
        "open_while_sampled": held.open_while_sampled,
        "open_seconds": round(held.open_seconds, 2),
        "completed": held.completed,
        "errors": held.errors,
        "first_error": held.first_error,
        "seconds": round(time.perf_counter() - started, 2),
        "idle_rss_mb": idle.rss_bytes / MB,
        "idle_fds": idle.fds,
    }
    if peak is not None:
        row["held_rss_mb"] = peak.rss_bytes / MB
        row["held_fds"] = max(s.fds for s in during)
        row["kb_per_stream"] = (peak.rss_bytes - idle.rss_bytes) / 1024 / count
    return row


def _fd_problems(base: dict[str, int], end: dict[str, int], concurrency: int) -> list[str]:
    """Why the fds after the run are not back to baseline; empty when they are.

    Idle upstream keep-alive connections are a pool bounded by the concurrency, not a
    leak, so they are judged by that bound; every other kind must be back to its count.
    """
    problems = []
    if end["client"]:
        problems.append(f"{end['client']} client connections still open")
    if end["upstream_close_wait"]:
        problems.append(f"{end['upstream_close_wait']} upstream sockets in CLOSE_WAIT")
    if end["other"] > base["other"]:
        problems.append(f"{end['other'] - base['other']} more non-socket or listener fds")
    if end["upstream"] > max(base["upstream"], concurrency):
        problems.append(f"{end['upstream']} upstream connections for concurrency {concurrency}")
    return problems


async def measure_leak(
    service: Service,
    upstream_port: int,
    total: int,
    *,
    warmup: int,
    concurrency: int,
    settle: float = 10.0,
) -> dict[str, Any]:
    """RSS and fds after ``total`` mixed requests, against the same after a warm-up.

    The load generator closes its connections before each reading, so the fds are what
    gpool keeps for itself: listener, log, event loop and its upstream keep-alive pool.
    """
    specs = leak_specs(service.url)

    def fds() -> dict[str, int]:
        return fd_kinds(service.pid, listen_port=service.port, upstream_port=upstream_port)

    warm = await mixed(specs, warmup, concurrency)
    await asyncio.sleep(1.0)
    base, base_fds = service.sample(), fds()
    run = await mixed(specs, total, concurrency)
    started = time.perf_counter()
    await asyncio.sleep(1.0)
    end_fds = fds()
    while _fd_problems(base_fds, end_fds, concurrency) and time.perf_counter() - started < settle:
        await asyncio.sleep(0.5)
        end_fds = fds()
    end = service.sample()
    return {
        "requests": total,
        "warmup_requests": warmup,
        "concurrency": concurrency,
        "kinds": len({id(s) for s in specs}),
        "seconds": round(run.seconds, 1),
        "rps": run.requests / run.seconds if run.seconds else 0.0,
        "errors": warm.errors + run.errors,
        "first_error": warm.first_error or run.first_error,
        "base_rss_mb": base.rss_bytes / MB,
        "end_rss_mb": end.rss_bytes / MB,
        "rss_growth_mb": (end.rss_bytes - base.rss_bytes) / MB,
        "base_fds": base.fds,
        "end_fds": end.fds,
        "base_fd_kinds": base_fds,
        "end_fd_kinds": end_fds,
        "fd_problems": _fd_problems(base_fds, end_fds, concurrency),
        "settle_seconds": round(time.perf_counter() - started, 1),
    }
