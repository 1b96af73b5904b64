"""Per-key egress proxies: real SOCKS5 and HTTP CONNECT proxies on loopback, in this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from tiny_proxy import HttpProxyHandler, Socks5ProxyHandler

from gpool.config import KeyConfig, RetryConfig, UpstreamConfig
from gpool.fake import FakeState, fake_key
from gpool.state import POOL
from tests.conftest import MakeConfig, StartGpool, generate_calls

BODY = b'{"contents":[{"parts":[{"text":"via proxy"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


class Sniffed:
    """A client stream that keeps a copy of every byte the proxy receives from gpool."""

    def __init__(self, stream: Any, seen: bytearray) -> None:
        self._stream = stream
        self._seen = seen

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data: bytes = await self._stream.receive(max_bytes)
        self._seen += data
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Counted:
    """Wraps a tiny-proxy handler: counts its tunnels and keeps what went through them."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.tunnels = 0
        self.seen = bytearray()

    async def handle(self, stream: Any) -> None:
        self.tunnels += 1
        await self.handler.handle(Sniffed(stream, self.seen))


@contextlib.asynccontextmanager
async def running_proxy(handler: Any) -> AsyncIterator[tuple[Counted, int]]:
    counted = Counted(handler)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
    task = asyncio.create_task(listener.serve(counted.handle))
    try:
        yield counted, port
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await listener.aclose()


async def test_each_key_goes_through_its_own_proxy(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    socks_key, http_key, direct_key = fake_key("ok", 1), fake_key("ok", 2), fake_key("ok", 3)
    async with (
        running_proxy(Socks5ProxyHandler()) as (socks, socks_port),
        running_proxy(HttpProxyHandler(username="user", password="pa:ss")) as (http, http_port),
    ):
        keys = [
            KeyConfig(key=socks_key, proxy=f"socks5://127.0.0.1:{socks_port}"),
            KeyConfig(key=http_key, proxy=f"http://user:pa%3Ass@127.0.0.1:{http_port}"),
            KeyConfig(key=direct_key),
        ]
        client = await start_gpool(make_config(keys))
        for _ in range(6):
            resp = await client.post(GENERATE, data=BODY)
            assert resp.status == 200, await resp.text()
        socks_before, http_before = socks.tunnels, http.tunnels
        assert socks_before >= 1 and http_before >= 1
        # Keep-alive: more requests through the same proxies reuse their tunnels.
        for _ in range(3):
            assert (await client.post(GENERATE, data=BODY)).status == 200
        assert (socks.tunnels, http.tunnels) == (socks_before, http_before)
    seen = [c.key for c in generate_calls(fake)]
    assert seen.count(socks_key) == seen.count(http_key) == seen.count(direct_key) == 3
    # Plain HTTP upstream, so each proxy saw the requests it carried: only its own key's.
    assert socks_key.encode() in socks.seen
    assert http_key.encode() not in socks.seen and direct_key.encode() not in socks.seen
    assert http_key.encode() in http.seen
    assert socks_key.encode() not in http.seen and direct_key.encode() not in http.seen


async def test_default_proxy_applies_to_keys_that_name_none(
    make_config: MakeConfig, start_gpool: StartGpool, upstream_url: str
) -> None:
    async with running_proxy(Socks5ProxyHandler()) as (socks, port):
        upstream = UpstreamConfig(base_url=upstream_url, proxy=f"socks5://127.0.0.1:{port}")
        client = await start_gpool(make_config([fake_key("ok", 1)], upstream=upstream))
        assert (await client.post(GENERATE, data=BODY)).status == 200
        assert socks.tunnels >= 1


async def test_a_dead_proxy_fails_over_without_disabling_the_key(
    make_config: MakeConfig,
    start_gpool: StartGpool,
    fake: FakeState,
    unused_tcp_port_factory: Callable[[], int],
) -> None:
    dead = unused_tcp_port_factory()
    wrong_auth_port_holder: list[int] = []
    async with running_proxy(HttpProxyHandler(username="u", password="right")) as (_, auth_port):
        wrong_auth_port_holder.append(auth_port)
        keys = [
            KeyConfig(key=fake_key("ok", 1), proxy=f"socks5://127.0.0.1:{dead}"),
            KeyConfig(key=fake_key("ok", 2), proxy=f"http://u:wrong@127.0.0.1:{auth_port}"),
            KeyConfig(key=fake_key("ok", 3)),
        ]
        client = await start_gpool(make_config(keys, retry=RetryConfig(max_attempts=3)))
        resp = await client.post(GENERATE, data=BODY)
        assert resp.status == 200, await resp.text()
        pool = client.app[POOL]
        assert [k.disabled for k in pool.keys] == [None, None, None]
        assert generate_calls(fake)[-1].key == fake_key("ok", 3)


@pytest.mark.parametrize("scheme", ["socks5", "http"])
async def test_proxy_failure_text_never_shows_the_password(
    scheme: str,
    make_config: MakeConfig,
    start_gpool: StartGpool,
    caplog: pytest.LogCaptureFixture,
    unused_tcp_port: int,
) -> None:
    key = KeyConfig(
        key=fake_key("ok", 1), proxy=f"{scheme}://user:hunter2@127.0.0.1:{unused_tcp_port}"
    )
    client = await start_gpool(make_config([key]))
    resp = await client.post(GENERATE, data=BODY)
    assert resp.status == 502
    assert "hunter2" not in await resp.text()
    assert "hunter2" not in caplog.text
