"""Shared fixtures: the fake Gemini upstream on a real socket, and gpool in front of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gpool import create_app, jsonio
from gpool.config import Config, KeyConfig, UpstreamConfig
from gpool.fake import FAKE_STATE, FakeState, create_fake_app
from tests.redis_server import redis_server  # noqa: F401 - a fixture for the tests

MakeConfig = Callable[..., Config]
StartGpool = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture(params=["orjson", "stdlib"] if jsonio.FAST else ["stdlib"])
def json_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with each JSON implementation gpool may have: orjson (gpool[speed]) and
    the standard library, so the pure-Python path stays tested where orjson is installed."""
    jsonio.use_stdlib(request.param == "stdlib")
    try:
        yield request.param
    finally:
        jsonio.use_stdlib(False)


@pytest.fixture
async def fake_server(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_fake_app(slow_delay=0.3))
    return server


@pytest.fixture
def fake(fake_server: TestServer) -> FakeState:
    return fake_server.app[FAKE_STATE]


@pytest.fixture
def upstream_url(fake_server: TestServer) -> str:
    return str(fake_server.make_url("")).rstrip("/")


@pytest.fixture
def make_config(upstream_url: str) -> MakeConfig:
    """A Config aimed at the fake upstream; keys may be strings or KeyConfigs."""

    def make(keys: Iterable[str | KeyConfig], **sections: Any) -> Config:
        upstream = sections.pop(
            "upstream", UpstreamConfig(base_url=upstream_url, connect_timeout=2, read_timeout=5)
        )
        key_configs = tuple(KeyConfig(key=k) if isinstance(k, str) else k for k in keys)
        sections.setdefault("state", "memory")
        return Config(keys=key_configs, upstream=upstream, **sections)

    return make


@pytest.fixture
def start_gpool(aiohttp_server: Any, aiohttp_client: Any) -> StartGpool:
    """Start gpool for a Config on a real loopback socket, as ``gpool serve`` runs it:
    handlers cancelled when the client hangs up (TestServer always sets that), and no
    aiohttp access log."""

    async def start(config: Config) -> TestClient[web.Request, web.Application]:
        server = await aiohttp_server(create_app(config), access_log=None)
        client: TestClient[web.Request, web.Application] = await aiohttp_client(server)
        return client

    return start


def generate_calls(fake: FakeState) -> list[Any]:
    """The fake's recorded model calls, leaving out the catalog's model listing."""
    return [c for c in fake.calls if c.method_name not in ("list", "get")]
