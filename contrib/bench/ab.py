"""A/B: gpool at a git revision against the working tree, with the floor, in one run.

A change worth a few percent of CPU is lost in the noise between two benchmark runs on a
shared machine. Here both gpools and the floor take slices of the same load in turns, so
noise falls on all three alike::

    python contrib/bench/ab.py --base HEAD --scenarios native-unary@32,openai-stream@1

The base revision is checked out in a temporary git worktree and run from there. Either
side may carry its own ``gpool serve`` arguments or configuration lines (``--a-config``,
``--b-config``), to measure a setting rather than a change of code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import HERE, REPO, write_gpool_config
from phases import measure_pair
from procs import Service, free_port, plan_pinning
from scenarios import SCENARIOS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git revision for side A (HEAD)")
    parser.add_argument(
        "--same-code", action="store_true", help="both sides run the working tree (A/A)"
    )
    parser.add_argument(
        "--scenarios", default="native-unary@32", help="name@concurrency, comma-separated"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per target")
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument(
        "--proxy-cpus",
        choices=["own", "all"],
        default="own",
        help="own: proxies pinned off the load generator's CPU; all: unpinned (--workers)",
    )
    for side in ("a", "b"):
        parser.add_argument(
            f"--{side}-arg", action="append", default=[], help=f"gpool serve args, side {side}"
        )
        parser.add_argument(
            f"--{side}-config", default="", help=f"YAML lines appended to side {side}'s config"
        )
        parser.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"environment variable for side {side}",
        )
    return parser


def _worktree(rev: str, where: Path) -> Path:
    path = where / "base"
    _git("worktree", "add", "--detach", "--force", str(path), rev)
    return path


def _git(*args: str) -> None:
    subprocess.run(  # noqa: S603 - a fixed git command
        ["git", "-C", str(REPO), *args],  # noqa: S607 - git from PATH
        check=True,
        capture_output=True,
    )


def _gpool(
    name: str,
    code: Path,
    work: Path,
    fake: Service,
    args: list[str],
    extra: str,
    env: list[str],
    cpus: frozenset[int] | None,
) -> Service:
    home = work / name
    home.mkdir()
    config = home / "gpool.yaml"
    write_gpool_config(config, fake.url)
    if extra:
        config.write_text(config.read_text() + extra.replace("\\n", "\n") + "\n")
    port = free_port()
    argv = [sys.executable, "-m", "gpool", "serve", "--config", str(config), "--port", str(port)]
    service = Service(
        name,
        [*argv, *args],
        port,
        work / f"{name}.log",
        cpus=cpus,
        pin_method=plan_pinning().method,
        cwd=home,
    )
    service.env = {**os.environ, "PYTHONPATH": str(code), **dict(e.split("=", 1) for e in env)}
    return service


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    pinning = plan_pinning()
    proxy_cpus = pinning.proxy if args.proxy_cpus == "own" else None
    with tempfile.TemporaryDirectory(prefix="gpool-ab-") as tmp:
        work = Path(tmp)
        base = REPO if args.same_code else _worktree(args.base, work)
        fake_port = free_port()
        fake = Service(
            "fake",
            [sys.executable, "-m", "gpool.fake", "--host", "127.0.0.1", "--port", str(fake_port)],
            fake_port,
            work / "fake.log",
            cpus=pinning.load,
            pin_method=pinning.method,
        )
        floor_port = free_port()
        floor = Service(
            "floor",
            [
                sys.executable,
                str(HERE / "floor.py"),
                "--upstream",
                fake.url,
                "--port",
                str(floor_port),
            ],
            floor_port,
            work / "floor.log",
            cpus=proxy_cpus,
            pin_method=pinning.method,
        )
        split = [a for raw in args.a_arg for a in shlex.split(raw)]
        a = _gpool("gpool-a", base, work, fake, split, args.a_config, args.a_env, proxy_cpus)
        split = [a for raw in args.b_arg for a in shlex.split(raw)]
        b = _gpool("gpool-b", REPO, work, fake, split, args.b_config, args.b_env, proxy_cpus)
        services = [a, b, floor]
        try:
            for service in (fake, *services):
                service.start()
            _compare(args, services, fake)
        finally:
            for service in (*services, fake):
                service.stop()
            if not args.same_code:
                _git("worktree", "remove", "--force", str(base))
    return 0


def _compare(args: argparse.Namespace, services: list[Service], fake: Service) -> None:
    a_code = "working tree" if args.same_code else args.base
    print(f"A: {a_code} {args.a_arg} {args.a_config!r} {args.a_env}")
    print(f"B: working tree {args.b_arg} {args.b_config!r} {args.b_env}")
    print(
        "scenario     conc  run  A ms/req  B ms/req  floor   B/A    A/floor B/floor"
        "   A req/s  B req/s  floor req/s"
    )
    for item in args.scenarios.split(","):
        name, _, conc = item.partition("@")
        ratios: list[float] = []
        for run in range(args.runs):
            order = services if run % 2 == 0 else services[::-1]
            rows = asyncio.run(
                measure_pair(
                    order,
                    SCENARIOS[name],
                    int(conc or 32),
                    warmup=1.5,
                    duration=args.duration,
                    slices=args.slices,
                    upstream=fake,
                )
            )
            cpu = {row["target"]: row["cpu_ms_per_req"] for row in rows}
            rps = {row["target"]: row["rps"] for row in rows}
            ttfb = {row["target"]: row.get("ttfb_p50_ms") for row in rows}
            a, b, floor = cpu["gpool-a"], cpu["gpool-b"], cpu["floor"]
            ratios.append(b / a)
            print(
                f"{name:13}{conc or 32:>4}{run + 1:>5}{a:10.3f}{b:10.3f}{floor:8.3f}"
                f"{b / a:7.3f}{a / floor:9.3f}{b / floor:8.3f}"
                f"{rps['gpool-a']:10.0f}{rps['gpool-b']:9.0f}{rps['floor']:13.0f}"
                + (
                    f"   TTFB p50 ms {ttfb['gpool-a']:.2f} / {ttfb['gpool-b']:.2f}"
                    f" / {ttfb['floor']:.2f}"
                    if ttfb["floor"] is not None
                    else ""
                ),
                flush=True,
            )
        print(f"{name}@{conc or 32}: median B/A {statistics.median(ratios):.3f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
