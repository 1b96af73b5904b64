"""Where gpool spends its CPU: py-spy samples of gpool under one scenario's load.

``python contrib/bench/hotspots.py --scenario openai-unary`` starts the fake upstream and
gpool as the benchmark does, loads gpool, samples it with ``py-spy`` (``pip install
py-spy``) and prints gpool's own functions by share of the samples.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import write_gpool_config
from load import client_session, closed_loop
from procs import Service, free_port, plan_pinning, raise_nofile
from scenarios import SCENARIOS

_OWN = "/gpool/"
_ENTRY = frozenset({"gpool/__main__.py", "gpool/cli.py", "gpool/serving.py", "gpool/workers.py"})


def _frame(text: str) -> tuple[str, str]:
    """``name (path)`` -> (path, name)."""
    name, _, path = text.rpartition(" (")
    return path.rstrip(")"), name


@dataclass
class HotSpots:
    """gpool's functions by share of samples."""

    total: int = 0  # samples of the event loop's thread
    other_threads: int = 0  # samples of helper threads (log flusher, executor), not in total
    outside: int = 0  # samples with no gpool frame below the entry point
    innermost: Counter[str] = field(default_factory=Counter)
    anywhere: Counter[str] = field(default_factory=Counter)
    callees: dict[str, Counter[str]] = field(default_factory=dict)


def _own(path: str) -> bool:
    # py-spy shortens paths to the package: gpool/relay.py, aiohttp/web_app.py.
    return path.startswith("gpool/") or (_OWN in path and "site-packages" not in path)


def hot_spots(collapsed: str) -> HotSpots:
    """Per gpool function: samples with it innermost among gpool's frames (its own time
    plus the library calls it makes), samples with it anywhere on the stack, and which
    library call took its innermost samples. The entry point (cli, serving, workers),
    on every stack, is left out: its samples are the event loop and aiohttp's server.
    Only the event loop's thread is counted."""
    spots = HotSpots()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(text) for text in stack.split(";")]
        if frames[0][1] == "Thread._bootstrap":
            # py-spy can take a helper thread asleep in time.sleep for a busy one; the
            # request work is all on the event loop's thread, so that is what is counted.
            spots.other_threads += n
            continue
        spots.total += n
        own = [i for i, (path, _) in enumerate(frames) if _own(path) and path not in _ENTRY]
        if not own:
            spots.outside += n
            continue
        labels = [_label(*frames[i]) for i in own]
        last = own[-1]
        callee = _label(*frames[last + 1]) if last + 1 < len(frames) else "(itself)"
        spots.innermost[labels[-1]] += n
        spots.callees.setdefault(labels[-1], Counter())[callee] += n
        for label in set(labels):
            spots.anywhere[label] += n
    return spots


def _label(path: str, name: str) -> str:
    return f"{path[path.rfind(_OWN) + 1 :] if _OWN in path else path}:{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="openai-unary", choices=sorted(SCENARIOS))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--save", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--stacks", type=Path, help="only analyse stacks saved by --save")
    args = parser.parse_args(argv)
    if args.stacks:
        _print(hot_spots(args.stacks.read_text()), str(args.stacks), args.top)
        return 0
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("profile: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 2
    raise_nofile(4096)
    pinning = plan_pinning()
    with tempfile.TemporaryDirectory(prefix="gpool-profile-") as scratch:
        work = Path(scratch)
        fake_port, gpool_port = free_port(), free_port()
        fake = Service(
            "fake",
            [sys.executable, "-m", "gpool.fake", "--port", str(fake_port)],
            fake_port,
            work / "fake.log",
            cpus=pinning.load,
            pin_method=pinning.method,
        )
        config = work / "gpool.yaml"
        serve = ["serve", "--config", str(config), "--port", str(gpool_port)]
        gpool = Service(
            "gpool",
            [sys.executable, "-m", "gpool", *serve],
            gpool_port,
            work / "gpool.log",
            cpus=pinning.proxy,
            pin_method=pinning.method,
            cwd=work,
        )
        try:
            fake.start()
            write_gpool_config(config, fake.url)
            gpool.start()
            collapsed = _profile(spy, gpool, args, work / "stacks.txt")
        finally:
            gpool.stop()
            fake.stop()
    if args.save:
        args.save.write_text(collapsed)
    _print(hot_spots(collapsed), f"{args.scenario} @{args.concurrency}", args.top)
    return 0


def _print(spots: HotSpots, title: str, top: int) -> None:
    total = max(spots.total, 1)
    print(
        f"{title}: {spots.total} samples of gpool's event-loop thread "
        f"({spots.other_threads} of helper threads left out)"
    )
    print(f"{100 * spots.outside / total:.1f}% outside gpool's code (event loop, aiohttp server)")
    print(f"{'innermost %':>11} {'on stack %':>10}  gpool function  [its top callee]")
    for label, n in spots.innermost.most_common(top):
        callee, calls = spots.callees[label].most_common(1)[0]
        print(
            f"{100 * n / total:11.1f} {100 * spots.anywhere[label] / total:10.1f}  {label}"
            f"  [{callee} {100 * calls / n:.0f}%]"
        )


def _profile(spy: str, gpool: Service, args: argparse.Namespace, out: Path) -> str:
    spec = SCENARIOS[args.scenario].spec("gpool", gpool.url)
    command = [spy, "record", "--pid", str(gpool.pid), "--duration", str(int(args.seconds))]
    command += ["--rate", str(args.rate), "--nolineno", "--format", "raw", "--output", str(out)]

    async def load() -> tuple[int | None, bytes]:
        async with client_session(args.concurrency) as session:
            await closed_loop(spec, session, args.concurrency, 1.0, 1.0, lambda _: None)
            recorder = await asyncio.create_subprocess_exec(
                *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                await closed_loop(
                    spec, session, args.concurrency, 0.2, args.seconds + 1.0, lambda _: None
                )
            finally:
                _, err = await asyncio.wait_for(recorder.communicate(), 60)
            return recorder.returncode, err

    code, err = asyncio.run(load())
    if code != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-2000:]}")
    return out.read_text()


if __name__ == "__main__":
    raise SystemExit(main())
