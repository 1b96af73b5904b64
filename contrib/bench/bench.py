"""gpool's benchmark: gpool against a minimal aiohttp pass-through, the floor, in one run.

``python contrib/bench/bench.py`` starts the fake Gemini upstream, the floor proxy and
gpool, drives every scenario against each proxy in turn, and writes
``contrib/bench/results/<date>-<host>.{md,json}``. ``--quick`` is a smoke run (< 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shlex
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from about import code_version, commit, cpu_model
from phases import measure_held, measure_leak, measure_pair
from procs import Service, free_port, nofile_limit, plan_pinning, raise_nofile
from report import summarise, write_results
from scenarios import SCENARIOS, TOKEN, upstream_keys

import gpool

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXTRA = ("held", "leak")


@dataclass(frozen=True)
class Settings:
    """How long and how hard each phase runs."""

    warmup: float
    duration: float
    concurrencies: tuple[int, ...]
    held_streams: int
    held_chunks: int
    held_delay_ms: int
    leak_requests: int
    leak_warmup: int
    leak_concurrency: int
    slices: int  # the measured seconds are cut into this many slices, taken in turns

    @classmethod
    def of(cls, quick: bool) -> Settings:
        if quick:
            return cls(0.4, 1.0, (1, 32), 200, 5, 500, 3_000, 600, 64, 2)
        return cls(1.5, 8.0, (1, 32), 1000, 13, 1000, 100_000, 5_000, 64, 4)


def _parser() -> argparse.ArgumentParser:
    names = ", ".join([*SCENARIOS, *EXTRA])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run, under a minute")
    parser.add_argument(
        "--runs", type=int, help="runs; figures are medians over them (3, or 1 with --quick)"
    )
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated subset of: {names}; a name may end in @CONCURRENCY (all)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    parser.add_argument("--label", help="appended to the results' file names: <date>-<host>-LABEL")
    parser.add_argument(
        "--gpool-arg",
        action="append",
        default=[],
        metavar="ARG",
        help='extra `gpool serve` arguments, e.g. --gpool-arg "--workers 2" (repeatable)',
    )
    parser.add_argument(
        "--floor-uvloop",
        action="store_true",
        help="run the floor on uvloop too: the like-for-like floor for gpool[speed]",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target is missed (for CI)"
    )
    parser.add_argument("--duration", type=float, help="seconds measured per scenario and target")
    parser.add_argument("--leak-requests", type=int, help="requests in the leak check")
    return parser


def _selection(raw: str | None, settings: Settings) -> tuple[list[tuple[str, int]], set[str]]:
    """(scenario, concurrency) cases and the extra phases that were asked for."""
    every = [(name, c) for name in SCENARIOS for c in settings.concurrencies]
    if not raw:
        return every, set(EXTRA)
    cases: list[tuple[str, int]] = []
    extra: set[str] = set()
    for item in (i.strip() for i in raw.split(",") if i.strip()):
        name, _, conc = item.partition("@")
        if name in EXTRA:
            extra.add(name)
        elif name in SCENARIOS:
            cases += [(name, int(conc))] if conc else [(name, c) for c in settings.concurrencies]
        else:
            raise SystemExit(f"bench: unknown scenario {name!r}")
    return cases, extra


def write_gpool_config(path: Path, upstream: str) -> None:
    """gpool's configuration for the benchmark: defaults, but healthy keys and a token."""
    keys = "\n".join(f"  - {k}" for k in upstream_keys())
    path.write_text(
        f"upstream:\n  base_url: {upstream}\nkeys:\n{keys}\nauth:\n  tokens: [{TOKEN}]\n"
        "log:\n  level: info\n  format: text\n"
    )


class Bench:
    """The three services and the measurements, with logs in a scratch directory."""

    def __init__(self, args: argparse.Namespace, settings: Settings, work: Path) -> None:
        self.args = args
        self.settings = settings
        self.work = work
        self.pinning = plan_pinning()
        self.usable_cpus = len(os.sched_getaffinity(0))
        self.fake = self._service(
            "fake", [sys.executable, "-m", "gpool.fake", "--host", "127.0.0.1"], self.pinning.load
        )
        self.fake.argv += ["--port", str(self.fake.port)]
        self.gpool_args = [a for raw in args.gpool_arg for a in shlex.split(raw)]
        self.gpool_starts = 0
        self.gpool_versions: list[str] = []  # the code each started gpool ran
        self.gpool = self._new_gpool()
        self.floor = self._service(
            "floor",
            [
                sys.executable,
                str(HERE / "floor.py"),
                "--upstream",
                self.fake.url,
                *(["--uvloop"] if args.floor_uvloop else []),
            ],
            self.pinning.proxy,
        )
        self.floor.argv += ["--port", str(self.floor.port)]

    def _service(
        self, name: str, argv: list[str], cpus: frozenset[int] | None, cwd: Path | None = None
    ) -> Service:
        return Service(
            name,
            argv,
            free_port(),
            self.work / f"{name}.log",
            cpus=cpus,
            pin_method=self.pinning.method,
            cwd=cwd,
        )

    def _new_gpool(self) -> Service:
        """gpool in a directory of its own: each start is a fresh deployment, with no
        state file (key health, counters) left by an earlier start or an older gpool."""
        self.gpool_starts += 1
        home = self.work / f"gpool-{self.gpool_starts}"
        home.mkdir()
        config = home / "gpool.yaml"
        write_gpool_config(config, self.fake.url)
        argv = [sys.executable, "-m", "gpool", "serve", "--config", str(config)]
        service = self._service("gpool", [*argv, *self.gpool_args], self.pinning.proxy, home)
        service.argv += ["--port", str(service.port)]
        return service

    def proxies(self, run: int) -> list[Service]:
        """Both targets; the order alternates between runs so slow drift cancels out."""
        pair = [self.gpool, self.floor]
        return pair if run % 2 == 0 else pair[::-1]

    def restart_proxies(self) -> None:
        self.gpool.stop()
        self.gpool = self._new_gpool()
        self.gpool_versions.append(code_version(REPO))
        self.gpool.start()
        self.floor.stop()
        self.floor.start()

    def stop_all(self) -> None:
        for service in (self.gpool, self.floor, self.fake):
            service.stop()

    def gpool_engines(self) -> str:
        """The event loop and JSON library gpool said it runs on ("uvloop, orjson")."""
        with self.gpool.log_path.open("rb") as log:
            for line in log:
                if b": serving " in line and b"; " in line:
                    return line.rpartition(b"; ")[2].decode().strip()
        return "unknown"

    def access_lines(self) -> int:
        with self.gpool.log_path.open("rb") as log:
            return sum(1 for line in log if b" gpool.access: " in line)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _one_run(
    bench: Bench, run: int, cases: list[tuple[str, int]], extra: set[str]
) -> dict[str, Any]:
    settings = bench.settings
    bench.restart_proxies()
    order = bench.proxies(run)
    result: dict[str, Any] = {
        "run": run,
        "gpool_code": bench.gpool_versions[-1],
        "order": [p.name for p in order],
        "scenarios": [],
    }
    if "held" in extra:
        result["held"] = []
        for proxy in order:
            _say(f"run {run + 1}: {settings.held_streams} held streams through {proxy.name}")
            row = asyncio.run(
                measure_held(
                    proxy,
                    proxy.name,
                    settings.held_streams,
                    chunks=settings.held_chunks,
                    delay_ms=settings.held_delay_ms,
                )
            )
            row["run"] = run
            result["held"].append(row)
            proxy.check_alive()
        bench.restart_proxies()  # so the scenarios' RSS is theirs, not the held streams'
        order = bench.proxies(run)
        versions = dict.fromkeys([result["gpool_code"], bench.gpool_versions[-1]])
        result["gpool_code"] = " / ".join(versions)
    for name, concurrency in cases:
        _say(f"run {run + 1}: {name} @{concurrency} through {' and '.join(p.name for p in order)}")
        rows = asyncio.run(
            measure_pair(
                order,
                SCENARIOS[name],
                concurrency,
                warmup=settings.warmup,
                duration=settings.duration,
                slices=settings.slices,
                upstream=bench.fake,
            )
        )
        for row in rows:
            row["run"] = run
        result["scenarios"] += rows
        for proxy in order:
            proxy.check_alive()
    return result


def _code_note(versions: list[str]) -> str:
    """The code gpool ran; every version, if it changed while the benchmark ran."""
    seen = list(dict.fromkeys(versions))
    if len(seen) <= 1:
        return seen[0] if seen else "unknown"
    return "CHANGED during the benchmark, medians mix versions: " + " → ".join(seen)


def _meta(bench: Bench, argv: list[str], started: float) -> dict[str, Any]:
    s = bench.settings
    return {
        "date": datetime.date.today().isoformat(),
        "hostname": socket.gethostname(),
        "command": shlex.join(["python", "contrib/bench/bench.py", *argv]),
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores ({bench.usable_cpus} usable)",
        "kernel": platform.release(),
        "versions": f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"gpool {gpool.__version__}",
        "gpool code": f"{_code_note(bench.gpool_versions)}, commit {commit(REPO)} at the end",
        "pinning": bench.pinning.describe(),
        "measurement": f"{s.warmup} s warm-up then {s.duration} s measured per scenario and "
        f"target, in {s.slices} slices taken in turns (A B B A …); concurrency "
        f"{', '.join(map(str, s.concurrencies))}; runs: {bench.args.runs}",
        "gpool": f"`gpool serve` with {len(upstream_keys())} keys, request log on (info, to a "
        f"file), default state, a fresh directory per start, extra args: "
        f"{' '.join(bench.args.gpool_arg) or 'none'}",
        "engines": f"gpool on {bench.gpool_engines()}; the floor on "
        f"{'uvloop' if bench.args.floor_uvloop else 'asyncio'}, no JSON work",
        "fd limits": f"gpool {nofile_limit(bench.gpool.pid)}, "
        f"floor {nofile_limit(bench.floor.pid)}",
        "wall time": f"{time.monotonic() - started:.0f} s",
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    settings = Settings.of(args.quick)
    if args.duration:
        settings = Settings(**{**vars(settings), "duration": args.duration})
    if args.leak_requests:
        settings = Settings(**{**vars(settings), "leak_requests": args.leak_requests})
    cases, extra = _selection(args.scenarios, settings)
    raise_nofile(4 * settings.held_streams + 1024)  # inherited by every service
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpool-bench-") as scratch:
        bench = Bench(args, settings, Path(scratch))
        if bench.pinning.load is not None:
            os.sched_setaffinity(0, bench.pinning.load)
        try:
            return _run(bench, argv, cases, extra, started)
        finally:
            bench.stop_all()


def _run(
    bench: Bench, argv: list[str], cases: list[tuple[str, int]], extra: set[str], started: float
) -> int:
    settings = bench.settings
    bench.fake.start()
    runs: list[dict[str, Any]] = []
    failures: list[str] = []
    # A run whose proxy dies or will not start is reported, and the others still count.
    for run in range(bench.args.runs):
        try:
            runs.append(_one_run(bench, run, cases, extra))
        except (RuntimeError, OSError, aiohttp.ClientError) as exc:
            failures.append(f"run {run + 1}: {str(exc) or repr(exc)}")
            _say(f"run {run + 1} failed: {exc}")
    leak = None
    if "leak" in extra:
        _say(f"leak check: {settings.leak_requests:,} mixed requests through gpool")
        try:
            bench.restart_proxies()
            leak = asyncio.run(
                measure_leak(
                    bench.gpool,
                    bench.fake.port,
                    settings.leak_requests,
                    warmup=settings.leak_warmup,
                    concurrency=settings.leak_concurrency,
                )
            )
            bench.gpool.check_alive()
        except (RuntimeError, OSError, aiohttp.ClientError) as exc:
            failures.append(f"leak check: {str(exc) or repr(exc)}")
            _say(f"leak check failed: {exc}")
    meta = _meta(bench, argv, started)
    meta["request log"] = f"{bench.access_lines():,} gpool.access lines written"
    summary = summarise(runs, leak, failures)
    label = [bench.args.label] if bench.args.label else []
    stem = "-".join([meta["date"], meta["hostname"], *label])
    md, raw, text = write_results(bench.args.out, stem, meta, runs, summary)
    print(text)
    _say(f"results: {md} and {raw}")
    missed = [v["target"] for v in summary["verdicts"] if not v["pass"]]
    _say(f"targets missed: {', '.join(missed)}" if missed else "every target met")
    return 1 if missed and bench.args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
