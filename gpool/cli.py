"""The ``gpool`` command: serve, serve --demo, check-config, --version."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

import attrs

from gpool import __version__, speedups
from gpool.config import Config
from gpool.config_loader import ConfigError, config_summary, load_config
from gpool.keys.build import state_problem
from gpool.logs import setup_logging
from gpool.serving import serve, serve_demo
from gpool.workers import run_workers

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
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes sharing the port (SO_REUSEPORT) and the state file or Redis",
    )
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
            return speedups.run(serve_demo(args.host, args.port))
        config = override(load_config(args.config), args.host, args.port)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"gpool: config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    refusal = exposure_problem(config) or state_problem(config.state)
    if refusal:
        print(f"gpool: refusing to start: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    if args.workers > 1:
        if config.state == "memory":
            print(
                "gpool: refusing to start: --workers needs state the workers can share;"
                " set state to sqlite:///path/gpool.db or redis://host:port/db",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return run_workers(args.config, args.host, args.port, args.workers)
    setup_logging(config.log.level, config.log.format)
    speedups.run(serve(config))
    return 0


def override(config: Config, host: str | None, port: int | None) -> Config:
    """``config`` with the command line's --host and --port applied."""
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
