"""Fetching ``image_url`` media over HTTP(S) for inlining, guarded against SSRF."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Callable, Sequence

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gpool.errors import BadRequest
from gpool.translate import FetchedMedia

__all__ = ["IPAddress", "MediaFetcher", "MediaPolicy", "is_public_address", "sniff"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 3
_CONCURRENCY = 4
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_GENERIC_TYPES = frozenset({"", "application/octet-stream"})
_BLOCKED = "resolves to a private address; not allowed"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


@attrs.frozen(kw_only=True)
class MediaPolicy:
    """What ``MediaFetcher`` may fetch, and how much of it."""

    timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    max_bytes: int = attrs.field(default=20 * 1024 * 1024, validator=attrs.validators.gt(0))
    #: Allow private, loopback and link-local targets (tests and trusted LANs).
    allow_private: bool = False
    #: Content-type prefixes that may be inlined.
    allowed_types: tuple[str, ...] = ("image/", "audio/", "video/", "application/pdf", "text/plain")


def is_public_address(addr: IPAddress) -> bool:
    """Whether ``addr`` is a globally routable unicast address, looking through IPv4 embeddings."""
    if isinstance(addr, ipaddress.IPv6Address):
        # An IPv6 address can smuggle an IPv4 one (::ffff:127.0.0.1, 6to4, Teredo, NAT64).
        if addr.ipv4_mapped is not None:
            return is_public_address(addr.ipv4_mapped)
        if addr.sixtofour is not None:
            return is_public_address(addr.sixtofour)
        if addr.teredo is not None:
            return all(is_public_address(inner) for inner in addr.teredo)
        if addr in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return addr.is_global and not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


def sniff(data: bytes) -> str | None:
    """The MIME type told by ``data``'s magic number, for the few formats we recognise."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class _BlockedAddress(OSError):
    """A host resolved to an address we may not connect to."""


class _GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` and refuses hosts with any disallowed address.

    The connector connects only to what this returns, so the check cannot be
    bypassed by DNS rebinding between the check and the connect, nor by redirects.
    """

    def __init__(self, inner: AbstractResolver, allowed: Callable[[IPAddress], bool]) -> None:
        self._inner = inner
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results or not all(self._ok(r["host"]) for r in results):
            raise _BlockedAddress(host)
        return results

    def _ok(self, address: str) -> bool:
        try:
            return self._allowed(ipaddress.ip_address(address))
        except ValueError:
            return False

    async def close(self) -> None:
        pass  # MediaFetcher owns the inner resolver


def _fail(host: str | None, reason: str) -> BadRequest:
    # Only the host: the path and query may hold a signature or token.
    return BadRequest(f"cannot fetch media from {host or 'URL'}: {reason}")


class MediaFetcher:
    """Fetches media URLs over its own guarded ``ClientSession``; start and close it once."""

    def __init__(
        self,
        policy: MediaPolicy,
        *,
        resolver: AbstractResolver | None = None,
        is_allowed_address: Callable[[IPAddress], bool] | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        if is_allowed_address is None:
            is_allowed_address = (lambda _: True) if policy.allow_private else is_public_address
        self._allowed = is_allowed_address
        self._session: aiohttp.ClientSession | None = None
        self._owned_resolver: AbstractResolver | None = None

    async def start(self) -> None:
        if self._session is not None:
            raise RuntimeError("MediaFetcher already started")
        inner = self._resolver
        if inner is None:
            inner = self._owned_resolver = aiohttp.DefaultResolver()
        connector = aiohttp.TCPConnector(resolver=_GuardedResolver(inner, self._allowed))
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": "gpool-media-fetcher"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._owned_resolver is not None:
            await self._owned_resolver.close()
            self._owned_resolver = None

    async def fetch_all(self, urls: Sequence[str]) -> dict[str, FetchedMedia]:
        """Fetch each distinct URL, a few at a time; the first failure cancels the rest."""
        unique = list(dict.fromkeys(urls))
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def one(url: str) -> FetchedMedia:
            async with gate:
                return await self.fetch(url)

        tasks = [asyncio.ensure_future(one(url)) for url in unique]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return dict(zip(unique, results, strict=True))

    async def fetch(self, url: str) -> FetchedMedia:
        """Fetch one http(s) URL, or raise ``BadRequest`` saying why not."""
        try:
            target = URL(url)
        except ValueError:
            raise _fail(None, "invalid URL") from None
        try:
            async with asyncio.timeout(self._policy.timeout):
                return await self._follow(target)
        except TimeoutError:
            raise _fail(target.host, f"timed out after {self._policy.timeout:g}s") from None

    async def _follow(self, url: URL) -> FetchedMedia:
        if self._session is None:
            raise RuntimeError("MediaFetcher.start() was not awaited")
        for _ in range(MAX_REDIRECTS + 1):
            self._check_target(url)
            try:
                async with self._session.get(url, allow_redirects=False) as resp:
                    if resp.status not in _REDIRECTS:
                        return await self._read(url.host, resp)
                    location = resp.headers.get("Location")
                    if not location:
                        raise _fail(url.host, f"HTTP {resp.status} redirect without a Location")
                    try:
                        url = url.join(URL(location))
                    except ValueError:
                        raise _fail(url.host, "invalid redirect Location") from None
            except aiohttp.ClientConnectorDNSError as exc:
                blocked = isinstance(exc.os_error, _BlockedAddress)
                raise _fail(url.host, _BLOCKED if blocked else "DNS lookup failed") from None
            except aiohttp.InvalidURL:
                raise _fail(url.host, "invalid URL") from None
            except aiohttp.ClientError as exc:
                # Not str(exc): aiohttp's messages may quote the full URL.
                raise _fail(url.host, f"connection failed ({type(exc).__name__})") from None
        raise _fail(url.host, f"more than {MAX_REDIRECTS} redirects")

    def _check_target(self, url: URL) -> None:
        """Checks aiohttp's resolver never sees: scheme, credentials and IP-literal hosts."""
        if url.scheme not in ("http", "https"):
            raise _fail(url.host, f"unsupported scheme {url.scheme[:16]!r}; only http and https")
        host = url.raw_host
        if not host:
            raise _fail(None, "invalid URL")
        if url.raw_user is not None or url.raw_password is not None:
            raise _fail(url.host, "credentials in the URL are not allowed")
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            # aiohttp skips the resolver for anything that looks like an IP literal.
            if ":" in host or host.replace(".", "").isdigit():
                raise _fail(url.host, "invalid IP address") from None
            return
        if not self._allowed(addr):
            raise _fail(url.host, _BLOCKED)

    async def _read(self, host: str | None, resp: aiohttp.ClientResponse) -> FetchedMedia:
        policy = self._policy
        if not 200 <= resp.status < 300:
            raise _fail(host, f"the server answered HTTP {resp.status}")
        declared = resp.content_type.lower()
        generic = declared in _GENERIC_TYPES
        if not generic and not declared.startswith(policy.allowed_types):
            raise _fail(host, f"content type {declared[:80]!r} is not allowed")
        too_large = f"larger than the {policy.max_bytes}-byte limit"
        if resp.content_length is not None and resp.content_length > policy.max_bytes:
            raise _fail(host, too_large)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > policy.max_bytes:
                resp.close()  # drop the connection rather than drain the rest
                raise _fail(host, too_large)
        mime = declared
        if generic:
            sniffed = sniff(bytes(body[:16]))
            if sniffed is None or not sniffed.startswith(policy.allowed_types):
                raise _fail(host, "unknown content type (no usable Content-Type)")
            mime = sniffed
        return FetchedMedia(mime_type=mime, data_b64=base64.b64encode(body).decode("ascii"))
