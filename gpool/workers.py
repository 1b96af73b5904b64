"""``gpool serve --workers N``: N processes on one port, restarted if one dies."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from gpool import speedups
from gpool.config_loader import load_config
from gpool.logs import setup_logging

__all__ = ["run_workers"]

log = logging.getLogger("gpool.workers")

_STOP_WAIT = 30.0
_QUICK_DEATHS = 5


def _worker(
    path: str, host: str | None, port: int, index: int, count: int, supervisor: int
) -> None:
    """One worker process: its own event loop, app and ledger, on the shared port."""
    from gpool.cli import override
    from gpool.serving import serve

    config = override(load_config(path), host, port)
    setup_logging(config.log.level, config.log.format)
    speedups.run(serve(config, worker=(index, count), supervisor=supervisor))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def run_workers(path: str, host: str | None, port: int | None, count: int) -> int:
    """Start ``count`` workers and keep them running until SIGINT or SIGTERM."""
    config = load_config(path)
    setup_logging(config.log.level, config.log.format)
    bind_host = host or config.server.host
    chosen = port if port is not None else config.server.port
    # Every worker must bind the same port: pick one now if the config says "any".
    chosen = chosen or _free_port(bind_host)
    spawn = multiprocessing.get_context("spawn")
    stopping = failed = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(index: int) -> BaseProcess:
        process = spawn.Process(
            target=_worker,
            args=(path, host, chosen, index, count, os.getpid()),
            name=f"gpool-worker-{index}",
        )
        process.start()
        return process

    workers = [start(i) for i in range(count)]
    started = [time.monotonic()] * count
    quick_deaths = 0
    while not stopping:
        time.sleep(0.2)
        for index, process in enumerate(workers):
            if process.exitcode is None or stopping:
                continue
            # A worker that dies at once (port taken, bad state file) would die again.
            quick_deaths = quick_deaths + 1 if time.monotonic() - started[index] < 5 else 0
            if quick_deaths >= _QUICK_DEATHS:
                log.error("workers keep dying right after they start; giving up")
                stopping, failed = True, True
                break
            log.warning("worker %d exited (%s); starting it again", index + 1, process.exitcode)
            workers[index], started[index] = start(index), time.monotonic()
    for process in workers:
        if process.is_alive():
            process.terminate()  # SIGTERM: each worker finishes and writes its state out
    deadline = time.monotonic() + _STOP_WAIT
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    return 1 if failed else 0
