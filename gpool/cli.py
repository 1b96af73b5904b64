"""The ``gpool`` command: serve, serve --demo, check-config, --version."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Sequence

import attrs
from aiohttp import web

from gpool import __version__
from gpool.app import create_app
from gpool.config import Config
from gpool.config_loader import ConfigError, config_summary, load_config
from gpool.logs import setup_logging

__all__ = ["main"]

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpool", description="One endpoint for a pool of Gemini API keys."
    )
    parser.add_argument("--version", action="version", version=f"gpool {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway")
    source = serve.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="PATH", help="the YAML configuration")
    source.add_argument(
        "--demo", action="store_true", help="serve against the built-in fake upstream"
    )
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port (overrides server.port)")
    check = commands.add_parser("check-config", help="validate a configuration and summarise it")
    check.add_argument("--config", metavar="PATH", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            config = load_config(args.config)
            print(f"{args.config}: OK")
            for line in config_summary(config):
                print(f"  {line}")
            return 0
        if args.demo:
            return asyncio.run(_serve_demo(args.host, args.port))
        config = _override(load_config(args.config), args.host, args.port)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"gpool: config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    refusal = exposure_problem(config)
    if refusal:
        print(f"gpool: refusing to start: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config.log.level, config.log.format)
    asyncio.run(_serve(config))
    return 0


def _override(config: Config, host: str | None, port: int | None) -> Config:
    server = config.server
    if host is not None:
        server = attrs.evolve(server, host=host)
    if port is not None:
        server = attrs.evolve(server, port=port)
    return attrs.evolve(config, server=server)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(config: Config) -> str | None:
    """Why serving ``config`` would expose an open key pool, or None."""
    if config.auth.tokens or is_loopback(config.server.host):
        return None
    return (
        f"server.host {config.server.host} is reachable from other machines and auth.tokens "
        "is empty, so anyone could spend your keys; add client tokens or listen on 127.0.0.1"
    )


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    # A client that hangs up cancels its handler, and with it the upstream request.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}"


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _serve(config: Config) -> None:
    runner, url = await _start(create_app(config), config.server.host, config.server.port)
    print(
        f"gpool {__version__}: serving {len(config.keys)} keys on {url}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await _until_stopped()
    finally:
        await runner.cleanup()


async def _serve_demo(host: str | None, port: int | None) -> int:
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
