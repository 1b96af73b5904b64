"""Run the fake Gemini upstream on its own: ``python -m gpool.fake --port 8081``."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from .app import create_fake_app
from .keys import FAULTS, fake_key

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpool.fake",
        description="A fake Gemini API upstream. Keys of the form AIzaFAKE_<fault>_… pick a "
        f"fault: {', '.join(sorted(FAULTS))}. Any other key behaves normally.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between events")
    parser.add_argument("--slow-delay", type=float, default=2.0, help="delay of the slow fault")
    parser.add_argument(
        "--rpm-retry-delay", type=float, default=37.48, help="retry delay the 429 faults advertise"
    )
    parser.add_argument(
        "--record", action="store_true", help="keep every call in memory (off: it grows forever)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--quota-rpm",
        type=int,
        default=None,
        help="enforce a real per-minute quota per key and model: 429 past it",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = create_fake_app(
        chunk_delay=args.chunk_delay,
        slow_delay=args.slow_delay,
        rpm_retry_delay=args.rpm_retry_delay,
        record=args.record,
        quota_rpm=args.quota_rpm,
    )
    print(f"fake Gemini upstream on http://{args.host}:{args.port} (try key {fake_key()})")
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
