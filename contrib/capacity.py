"""Sustained-load run of declared limits: N free-tier keys, more traffic than they allow.

    python contrib/capacity.py --seconds 150 --rate 5 [--instances 2]

Starts the fake upstream in this process with a real per-minute quota per key (so any
request gpool sends past a key's quota comes back 429 and is counted), one or two
`gpool serve` processes (two share a redis-server started here), and drives a steady
request rate round-robin over them. Prints what the clients got and how many 429s the
upstream sent. Loopback only; everything it starts it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web

from gpool.fake import FAKE_STATE, create_fake_app, fake_key

BODY = b'{"contents":[{"parts":[{"text":"hello"}]}]}'
PATH = "/v1beta/models/gemini-2.5-flash:generateContent"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def run(seconds: float, rate: float, instances: int, keys: int, rpm: int) -> None:
    fake = create_fake_app(quota_rpm=rpm, record=False)
    runner = web.AppRunner(fake, access_log=None)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    work = Path(tempfile.mkdtemp(prefix="gpool-capacity-"))
    procs: list[subprocess.Popen[bytes]] = []
    state = "memory"
    if instances > 1:
        redis_port = free_port()
        procs.append(
            subprocess.Popen(  # noqa: S603, ASYNC220 - a local redis for the run
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(work),
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        await wait_for_port(redis_port)
        state = f"redis://127.0.0.1:{redis_port}/0"
    key_list = ", ".join(fake_key("ok", n) for n in range(keys))
    (work / "gpool.yaml").write_text(
        f"upstream: {{base_url: 'http://127.0.0.1:{fake_port}'}}\nkeys: [{key_list}]\n"
        f"limits: {{gemini-2.5-flash: {{rpm: {rpm}}}}}\nstate: '{state}'\nlog: {{level: warning}}\n"
    )
    ports = [free_port() for _ in range(instances)]
    for port in ports:
        procs.append(
            subprocess.Popen(  # noqa: S603, ASYNC220
                [
                    sys.executable,
                    "-m",
                    "gpool",
                    "serve",
                    "--config",
                    str(work / "gpool.yaml"),
                    "--port",
                    str(port),
                ],
            )
        )
    try:
        for port in ports:
            await wait_for_port(port)
        statuses: Counter[int] = Counter()
        waits: list[int] = []
        async with aiohttp.ClientSession() as session:

            async def one(i: int) -> None:
                url = f"http://127.0.0.1:{ports[i % len(ports)]}{PATH}"
                async with session.post(url, data=BODY) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
                    if resp.status == 429:
                        waits.append(int(resp.headers["Retry-After"]))

            start, tasks, i = time.monotonic(), [], 0
            while (elapsed := time.monotonic() - start) < seconds:
                while i < elapsed * rate:
                    tasks.append(asyncio.create_task(one(i)))
                    i += 1
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
        print(
            f"{i} requests in {seconds:g} s ({rate:g}/s) to {instances} gpool instance(s), "
            f"{keys} keys x {rpm} rpm = {keys * rpm}/min of capacity"
        )
        print(f"clients got: {dict(sorted(statuses.items()))}")
        if waits:
            print(f"Retry-After on the 429s: min {min(waits)} s, max {max(waits)} s")
        print(f"429s sent by the upstream: {fake[FAKE_STATE].quota_refusals}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        await runner.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second")
    parser.add_argument("--instances", type=int, default=1, choices=(1, 2))
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--rpm", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(run(args.seconds, args.rate, args.instances, args.keys, args.rpm))


if __name__ == "__main__":
    main()
