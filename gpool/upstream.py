"""The only place that talks to the upstream: one ClientSession per proxy, errors mapped once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from types import TracebackType

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyConnector, ProxyError, ProxyTimeoutError
from attrs import frozen
from multidict import CIMultiDictProxy
from yarl import URL

from gpool.config import UpstreamConfig
from gpool.errors import UpstreamFailure, UpstreamHTTPError, UpstreamTimeout, UpstreamUnreachable
from gpool.keys import PoolKey, classify, transient
from gpool.redact import mask_url

__all__ = [
    "UPSTREAM_ERRORS",
    "Upstream",
    "UpstreamCall",
    "UpstreamResponse",
    "as_failure",
    "map_errors",
]

log = logging.getLogger("gpool.upstream")

# Never forwarded upstream: hop-by-hop headers, framing that aiohttp recomputes, the
# client's own credentials (the pool key replaces them) and encodings we negotiate ourselves.
_DROP_REQUEST = frozenset(
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
        "authorization",
        "x-goog-api-key",
        "cookie",
        "accept-encoding",
        "origin",
        "referer",
    }
)

_MAX_ERROR_BODY = 1 << 20
_URL_CACHE = 4096


@frozen
class UpstreamResponse:
    """An upstream answer whose headers have arrived; ``body`` is preloaded for errors."""

    status: int
    reason: str | None
    headers: CIMultiDictProxy[str]
    raw: aiohttp.ClientResponse
    body: bytes | None = None


#: Everything the upstream side can raise; ``as_failure`` says what each one means.
UPSTREAM_ERRORS = (
    ProxyError,
    ProxyConnectionError,
    ProxyTimeoutError,
    TimeoutError,
    aiohttp.ClientError,
)


def as_failure(exc: BaseException, key: PoolKey) -> UpstreamFailure:
    """The ``UpstreamFailure`` for an aiohttp, aiohttp-socks or timeout error."""
    if isinstance(exc, ProxyError | ProxyConnectionError | ProxyTimeoutError) or isinstance(
        exc.__cause__, ProxyError | ProxyConnectionError
    ):
        # The proxy's own message may name the proxy; never with its password.
        log.warning("proxy error for key %s via %s: %s", key.label, _proxy_label(key), exc)
        return UpstreamUnreachable("the upstream proxy failed", transient("proxy error"))
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("the upstream did not answer in time", transient("timeout"))
    reason = type(exc).__name__
    return UpstreamUnreachable("the upstream could not be reached", transient(reason))


@contextmanager
def map_errors(key: PoolKey) -> Iterator[None]:
    """Turn aiohttp, aiohttp-socks and timeout errors into gpool's ``UpstreamFailure``s."""
    try:
        yield
    except UPSTREAM_ERRORS as exc:
        raise as_failure(exc, key) from exc


def _proxy_label(key: PoolKey) -> str:
    return mask_url(key.proxy) if key.proxy else "direct"


class Upstream:
    """Sends requests for a key through that key's proxy, with keep-alive sessions."""

    def __init__(self, config: UpstreamConfig, proxies: Iterable[str | None]) -> None:
        self._base = URL(config.base_url)
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        )
        self._proxies = frozenset(proxies)
        self._sessions: dict[str | None, aiohttp.ClientSession] = {}
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], URL] = {}

    async def start(self) -> None:
        """Open one session per distinct proxy (``None`` is a direct connection)."""
        for proxy in self._proxies:
            connector: aiohttp.BaseConnector
            if proxy is None:
                connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            else:
                connector = ProxyConnector.from_url(proxy, limit=0)
            self._sessions[proxy] = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=True
            )

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        await asyncio.gather(*(s.close() for s in sessions.values()))

    def url(self, path: str, query: Iterable[tuple[str, str]] = ()) -> URL:
        """The upstream URL for ``path``; the client's ``key`` query parameter never goes on it.

        Requests repeat a handful of paths and queries, so built URLs are kept (building
        one with yarl costs more than looking it up).
        """
        kept = tuple((k, v) for k, v in query if k != "key")
        url = self._urls.get((path, kept))
        if url is None:
            url = self._base.with_path(self._base.path.rstrip("/") + path)
            url = url.with_query(kept) if kept else url
            if len(self._urls) >= _URL_CACHE:
                self._urls.clear()
            self._urls[(path, kept)] = url
        return url

    def open(
        self,
        key: PoolKey,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> UpstreamCall:
        """Send one request with ``key``: ``async with`` it for its answer's headers.

        An error answer that another key may fix is raised as ``UpstreamHTTPError``; any
        other error answer comes with its body read, to be returned as it is.
        """
        out = forward_headers(headers) if headers else {}
        out["x-goog-api-key"] = key.secret
        request = self._sessions[key.proxy].request(
            method, self.url(path, query), headers=out, data=body
        )
        return UpstreamCall(request, key)


class UpstreamCall:
    """One upstream request in flight. aiohttp, aiohttp-socks and timeout errors, while it
    is sent or its answer read inside the ``async with``, become ``UpstreamFailure``s.

    (A class rather than ``@asynccontextmanager``: this runs for every request, and the
    generator-based helpers cost more than the rest of this module.)
    """

    __slots__ = ("_key", "_request", "_response")

    def __init__(
        self, request: AbstractAsyncContextManager[aiohttp.ClientResponse], key: PoolKey
    ) -> None:
        self._request = request
        self._key = key
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> UpstreamResponse:
        try:
            self._response = resp = await self._request.__aenter__()
            if resp.status < 400:
                return UpstreamResponse(resp.status, resp.reason, resp.headers, resp)
            error_body = await resp.content.read(_MAX_ERROR_BODY)
            verdict = classify(resp.status, error_body, now=time.time())
            content_type = resp.headers.get("Content-Type", "application/json")
        except UPSTREAM_ERRORS as exc:
            await self._close()
            raise as_failure(exc, self._key) from exc
        except BaseException:  # the answer is released whatever went wrong reading it
            await self._close()
            raise
        if verdict.retry:
            await self._close()
            raise UpstreamHTTPError(resp.status, error_body, content_type, verdict)
        return UpstreamResponse(resp.status, resp.reason, resp.headers, resp, body=error_body)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close(exc_type, exc, tb)
        if isinstance(exc, UPSTREAM_ERRORS):
            raise as_failure(exc, self._key) from exc

    async def _close(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._response is not None:
            self._response = None
            await self._request.__aexit__(exc_type, exc, tb)


def forward_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that may travel upstream."""
    return {k: v for k, v in headers.items() if k.lower() not in _DROP_REQUEST}
