"""MediaFetcher against a real loopback origin: limits, content types, redirects, SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from gpool.errors import BadRequest
from gpool.media import (
    IPAddress,
    MediaFetcher,
    MediaPolicy,
    is_public_address,
    sniff,
)
from gpool.translate import FetchedMedia

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
REQUESTS = web.AppKey("requests", list[web.Request])

MakeFetcher = Callable[..., Awaitable[MediaFetcher]]


def origin_app() -> web.Application:
    async def png(request: web.Request) -> web.Response:
        resp = web.Response(body=PNG, content_type="image/png")
        resp.set_cookie("session", "tracked")
        return resp

    async def octet(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="application/octet-stream")

    async def unknown(request: web.Request) -> web.Response:
        return web.Response(body=b"just some bytes", content_type="application/octet-stream")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=PNG + b"\x00" * 2000, content_type="image/png")

    async def huge_declared(request: web.Request) -> web.StreamResponse:
        # Declares far more than it sends: only an up-front Content-Length check is fast.
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        resp.content_length = 10_000_000
        await resp.prepare(request)
        await resp.write(PNG)
        await asyncio.sleep(0.5)
        return resp

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(20):
            await resp.write(b"\x00" * 1000)
        await resp.write_eof()
        return resp

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.6)
        return web.Response(body=PNG, content_type="image/png")

    async def hop(request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        raise web.HTTPFound(f"/hop/{left - 1}" if left else "/png")

    async def to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["loc"])

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        request.app[REQUESTS].append(request)
        resp: web.StreamResponse = await handler(request)
        return resp

    app = web.Application(middlewares=[record])
    app[REQUESTS] = []
    app.router.add_get("/png", png)
    app.router.add_get("/octet", octet)
    app.router.add_get("/unknown", unknown)
    app.router.add_get("/html", html)
    app.router.add_get("/big", big)
    app.router.add_get("/huge-declared", huge_declared)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hop/{n}", hop)
    app.router.add_get("/to", to)
    return app


class FakeResolver(AbstractResolver):
    """Resolves made-up names to fixed addresses; anything else does not exist."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=addr,
                port=port,
                family=socket.AF_INET6 if ":" in addr else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for addr in self.names[host]
        ]

    async def close(self) -> None:
        pass


def only_loopback_v4(addr: IPAddress) -> bool:
    return addr == ipaddress.IPv4Address("127.0.0.1")


@pytest.fixture
async def origin(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(origin_app())
    return server


@pytest.fixture
def seen(origin: TestServer) -> list[web.Request]:
    return origin.app[REQUESTS]


@pytest.fixture
def base(origin: TestServer) -> str:
    return f"http://127.0.0.1:{origin.port}"


@pytest.fixture
async def make_fetcher() -> AsyncIterator[MakeFetcher]:
    fetchers: list[MediaFetcher] = []

    async def make(**kwargs: Any) -> MediaFetcher:
        policy = kwargs.pop("policy", MediaPolicy(allow_private=True, timeout=2))
        fetcher = MediaFetcher(policy, **kwargs)
        await fetcher.start()
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        await fetcher.close()


async def test_fetches_png_as_base64(
    make_fetcher: MakeFetcher, base: str, seen: list[web.Request]
) -> None:
    fetcher = await make_fetcher()
    got = await fetcher.fetch(f"{base}/png")
    assert got == FetchedMedia(mime_type="image/png", data_b64=base64.b64encode(PNG).decode())
    await fetcher.fetch(f"{base}/png")
    assert [r.headers["User-Agent"] for r in seen] == ["gpool-media-fetcher"] * 2
    assert "Cookie" not in seen[1].headers


async def test_sniffs_octet_stream(make_fetcher: MakeFetcher, base: str) -> None:
    fetcher = await make_fetcher()
    assert (await fetcher.fetch(f"{base}/octet")).mime_type == "image/png"
    with pytest.raises(BadRequest, match="unknown content type"):
        await fetcher.fetch(f"{base}/unknown")


async def test_rejects_disallowed_content_type(make_fetcher: MakeFetcher, base: str) -> None:
    fetcher = await make_fetcher()
    with pytest.raises(BadRequest, match="content type 'text/html' is not allowed"):
        await fetcher.fetch(f"{base}/html")


@pytest.mark.parametrize("path", ["/big", "/huge-declared", "/chunked"])
async def test_size_cap(make_fetcher: MakeFetcher, base: str, path: str) -> None:
    # /huge-declared stalls after its first bytes: only the Content-Length check beats the timeout.
    fetcher = await make_fetcher(
        policy=MediaPolicy(allow_private=True, max_bytes=1000, timeout=0.3)
    )
    with pytest.raises(BadRequest, match="larger than the 1000-byte limit"):
        await fetcher.fetch(f"{base}{path}")


async def test_timeout(make_fetcher: MakeFetcher, base: str) -> None:
    fetcher = await make_fetcher(policy=MediaPolicy(allow_private=True, timeout=0.3))
    with pytest.raises(BadRequest, match=r"^cannot fetch media from 127\.0\.0\.1: timed out"):
        await fetcher.fetch(f"{base}/slow")


async def test_http_error_status(make_fetcher: MakeFetcher, base: str) -> None:
    fetcher = await make_fetcher()
    with pytest.raises(BadRequest, match="answered HTTP 404"):
        await fetcher.fetch(f"{base}/missing")


async def test_follows_up_to_three_redirects(
    make_fetcher: MakeFetcher, base: str, seen: list[web.Request]
) -> None:
    fetcher = await make_fetcher()
    assert (await fetcher.fetch(f"{base}/hop/2")).mime_type == "image/png"
    assert [r.path for r in seen] == ["/hop/2", "/hop/1", "/hop/0", "/png"]
    with pytest.raises(BadRequest, match="more than 3 redirects"):
        await fetcher.fetch(f"{base}/hop/3")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.png", "unsupported scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported scheme 'file'"),
        ("http://user:pw@example.com/a.png", "credentials in the URL"),
        ("http:///nohost", "invalid URL"),
    ],
)
async def test_rejects_bad_urls(make_fetcher: MakeFetcher, url: str, reason: str) -> None:
    fetcher = await make_fetcher()
    with pytest.raises(BadRequest, match=reason):
        await fetcher.fetch(url)


async def test_redirect_to_other_scheme_rejected(make_fetcher: MakeFetcher, base: str) -> None:
    fetcher = await make_fetcher()
    with pytest.raises(BadRequest, match="unsupported scheme 'file'"):
        await fetcher.fetch(f"{base}/to?loc=file:///etc/passwd")


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "private address"),
        ("[::1]", "private address"),
        ("localhost", "private address"),
        ("0.0.0.0", "private address"),
        ("169.254.169.254", "private address"),
        ("[::ffff:127.0.0.1]", "private address"),
        ("0x7f000001", "private address"),  # getaddrinfo's legacy hex form, caught by the resolver
        ("2130706433", "invalid IP address"),  # decimal form, which aiohttp treats as a literal
    ],
)
async def test_ssrf_guard_blocks_before_connecting(
    make_fetcher: MakeFetcher, origin: TestServer, seen: list[web.Request], host: str, reason: str
) -> None:
    fetcher = await make_fetcher(policy=MediaPolicy(timeout=2))
    with pytest.raises(BadRequest, match=reason):
        await fetcher.fetch(f"http://{host}:{origin.port}/png")
    assert seen == []


async def test_guard_applies_to_every_resolved_address(
    make_fetcher: MakeFetcher, origin: TestServer, seen: list[web.Request]
) -> None:
    resolver = FakeResolver({"mixed.example": ["127.0.0.1", "10.0.0.1"]})
    fetcher = await make_fetcher(resolver=resolver, is_allowed_address=only_loopback_v4)
    with pytest.raises(BadRequest, match=r"^cannot fetch media from mixed\.example: resolves to a"):
        await fetcher.fetch(f"http://mixed.example:{origin.port}/png")
    assert seen == []


@pytest.mark.parametrize("target", ["http://[::1]:{port}/png", "http://metadata.example/latest"])
async def test_redirect_to_private_address_rejected(
    make_fetcher: MakeFetcher, origin: TestServer, seen: list[web.Request], target: str
) -> None:
    # public.example stands for a public origin; the hook allows exactly its address.
    resolver = FakeResolver(
        {"public.example": ["127.0.0.1"], "metadata.example": ["169.254.169.254"]}
    )
    fetcher = await make_fetcher(resolver=resolver, is_allowed_address=only_loopback_v4)
    start = f"http://public.example:{origin.port}"
    assert (await fetcher.fetch(f"{start}/png")).mime_type == "image/png"
    with pytest.raises(BadRequest, match="private address; not allowed"):
        await fetcher.fetch(f"{start}/to?loc={target.format(port=origin.port)}")
    assert [r.path for r in seen] == ["/png", "/to"]


async def test_dns_failure(make_fetcher: MakeFetcher) -> None:
    fetcher = await make_fetcher(resolver=FakeResolver({}))
    with pytest.raises(BadRequest, match=r"^cannot fetch media from nowhere\.example: DNS lookup"):
        await fetcher.fetch("http://nowhere.example/a.png")


@pytest.mark.parametrize("path", ["/missing", "/html", "/slow"])
async def test_error_never_shows_query_string(
    make_fetcher: MakeFetcher, origin: TestServer, path: str
) -> None:
    fetcher = await make_fetcher(policy=MediaPolicy(allow_private=True, timeout=0.3))
    url = f"http://127.0.0.1:{origin.port}{path}?X-Goog-Signature=s3cr3t"
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch(url)
    assert "s3cr3t" not in caught.value.message
    assert caught.value.message.startswith("cannot fetch media from 127.0.0.1: ")
    assert f"{path}?" not in caught.value.message


async def test_error_for_blocked_host_never_shows_query_string(make_fetcher: MakeFetcher) -> None:
    fetcher = await make_fetcher(policy=MediaPolicy())
    with pytest.raises(BadRequest) as caught:
        await fetcher.fetch("http://169.254.169.254/?token=s3cr3t")
    assert "s3cr3t" not in caught.value.message


async def test_fetch_all(make_fetcher: MakeFetcher, base: str, seen: list[web.Request]) -> None:
    fetcher = await make_fetcher()
    urls = [f"{base}/png", f"{base}/octet", f"{base}/png"]
    got = await fetcher.fetch_all(urls)
    assert set(got) == {f"{base}/png", f"{base}/octet"}
    assert len(seen) == 2
    with pytest.raises(BadRequest, match="answered HTTP 404"):
        await fetcher.fetch_all([f"{base}/slow", f"{base}/missing"])


@pytest.mark.parametrize(
    ("addr", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 around 169.254.169.254
    ],
)
def test_is_public_address(addr: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(addr)) is public


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_sniff(data: bytes, mime: str | None) -> None:
    assert sniff(data) == mime
