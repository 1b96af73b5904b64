"""The floor: the least an aiohttp proxy can do, forward a request and stream the answer back.

One shared ``ClientSession``, no parsing, no logging, no retries. Whatever gpool costs
above this is gpool's own work. Run alone:
``python contrib/bench/floor.py --port 8090 --upstream http://127.0.0.1:8081``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web
from yarl import URL

__all__ = ["create_floor_app", "main"]

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)

# Hop-by-hop headers, and framing that aiohttp recomputes for the next hop.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP}


async def forward(request: web.Request) -> web.StreamResponse:
    """Send the request on as it came; relay the answer chunk by chunk as it arrives."""
    body = await request.read()
    url = URL(request.app[UPSTREAM] + request.raw_path, encoded=True)  # path and query as sent
    async with request.app[SESSION].request(
        request.method, url, headers=_kept(request.headers), data=body
    ) as upstream:
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=_kept(upstream.headers)
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
    await response.write_eof()
    return response


def create_floor_app(upstream: str) -> web.Application:
    """The floor proxy in front of ``upstream``."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    # limit=0: gpool does not cap its upstream connections either (1,000 held streams).
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
    app[SESSION] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=timeout,
        auto_decompress=False,
    )
    yield
    await app[SESSION].close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, like http://127.0.0.1:8081")
    parser.add_argument(
        "--uvloop", action="store_true", help="run on uvloop, to compare with gpool[speed]"
    )
    args = parser.parse_args(argv)
    loop = None
    if args.uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(
        create_floor_app(args.upstream),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        handler_cancellation=True,
        loop=loop,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
