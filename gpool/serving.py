"""Running gpool's server: one process, the demo, or one worker of several."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys

from aiohttp import web

from gpool import __version__, jsonio
from gpool.app import create_app
from gpool.config import Config
from gpool.logs import setup_logging

__all__ = ["serve", "serve_demo"]


async def _start(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> tuple[web.AppRunner, str]:
    # A client that hangs up cancels its handler, and with it the upstream request.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def _engines() -> str:
    """Which event loop and JSON library serve requests (gpool[speed] or the stdlib)."""
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    return f"{'uvloop' if loop == 'uvloop' else 'asyncio'}, {'orjson' if jsonio.FAST else 'json'}"


async def _until_stopped(*, supervisor: int | None = None) -> None:
    """Wait for SIGINT or SIGTERM; a worker also stops once its supervisor is gone."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if supervisor is None:
        await stop.wait()
        return
    # The supervisor's pid comes from the supervisor itself: it may die before we look.
    while not stop.is_set() and os.getppid() == supervisor:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def serve(
    config: Config, *, worker: tuple[int, int] | None = None, supervisor: int | None = None
) -> None:
    """Serve until SIGINT or SIGTERM; a worker shares its port with the others and
    stops when its ``supervisor`` process is no longer its parent."""
    app = create_app(config, worker=worker)
    host, port = config.server.host, config.server.port
    runner, url = await _start(app, host, port, reuse_port=worker is not None)
    # Everything built so far (modules, config, the app) lives as long as the process: out
    # of the collector's sight, a full collection no longer walks it (about 5% of CPU).
    gc.collect()  # start-up's garbage is not frozen in
    gc.freeze()
    who = "" if worker is None else f" (worker {worker[0] + 1} of {worker[1]})"
    _flush_logs()  # start-up's log lines come before the line that says gpool is serving
    print(
        f"gpool {__version__}: serving {len(config.keys)} keys on {url}{who}; {_engines()}",
        file=sys.stderr,
        flush=True,
    )
    try:
        # A worker whose supervisor was killed must not serve on as an orphan.
        await _until_stopped(supervisor=supervisor)
    finally:
        await runner.cleanup()
        # A worker process ends without running atexit hooks: flush the log here.
        _flush_logs()


async def serve_demo(host: str | None, port: int | None) -> int:
    from gpool.demo import demo_config, demo_instructions
    from gpool.fake import create_fake_app

    setup_logging("info", "text")
    fake_runner, fake_url = await _start(create_fake_app(), "127.0.0.1", 0)
    config = demo_config(fake_url, host=host or "127.0.0.1", port=8000 if port is None else port)
    runner, url = await _start(create_app(config), config.server.host, config.server.port)
    print(demo_instructions(url, fake_url), flush=True)
    try:
        await _until_stopped()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        await fake_runner.cleanup()
    return 0
