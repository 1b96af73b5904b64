"""The issue's acceptance run, scaled to a test: 20 free-tier keys under a load beyond them.

The fake upstream enforces a real per-minute quota per key, as Google does. A pool that
schedules its declared limits never meets it; the excess gets 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gpool.config import Config, KeyConfig, LimitConfig, UpstreamConfig
from gpool.fake import FAKE_STATE, create_fake_app, fake_key

KEYS = [fake_key("ok", n) for n in range(20)]
BODY = b'{"contents":[{"parts":[{"text":"hello"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
FREE_TIER = {"gemini-2.5-flash": LimitConfig(rpm=10)}


@pytest.fixture
async def quota_fake(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_fake_app(quota_rpm=10, record=False))
    return server


def config_for(server: TestServer, **sections: Any) -> Config:
    upstream = UpstreamConfig(base_url=str(server.make_url("")).rstrip("/"))
    sections.setdefault("state", "memory")
    return Config(keys=tuple(KeyConfig(key=k) for k in KEYS), upstream=upstream, **sections)


async def drive(clients: list[TestClient[Any, Any]], total: int) -> tuple[Counter[int], list[int]]:
    """``total`` requests, 20 at a time, spread over ``clients``; statuses and Retry-Afters."""
    statuses: Counter[int] = Counter()
    waits: list[int] = []
    slots = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        async with slots:
            resp = await clients[i % len(clients)].post(GENERATE, data=BODY)
            await resp.read()
            statuses[resp.status] += 1
            if resp.status == 429:
                waits.append(int(resp.headers["Retry-After"]))

    await asyncio.gather(*(one(i) for i in range(total)))
    return statuses, waits


async def test_declared_limits_mean_zero_upstream_429s(
    quota_fake: TestServer, start_gpool: Any
) -> None:
    client = await start_gpool(config_for(quota_fake, limits=FREE_TIER))
    await client.get("/v1beta/models")
    statuses, waits = await drive([client], 300)
    assert statuses == {200: 200, 429: 100}  # 20 keys x 10 per minute
    assert quota_fake.app[FAKE_STATE].quota_refusals == 0
    assert all(1 <= w <= 61 for w in waits)


async def test_without_declared_limits_the_quota_is_discovered_the_hard_way(
    quota_fake: TestServer, start_gpool: Any
) -> None:
    """The control run: the same load with no limits declared meets the real quota."""
    client = await start_gpool(config_for(quota_fake))
    await client.get("/v1beta/models")
    await drive([client], 300)
    assert quota_fake.app[FAKE_STATE].quota_refusals > 0


async def test_two_instances_on_one_redis_share_the_capacity(
    quota_fake: TestServer, start_gpool: Any, redis_server: Any
) -> None:
    config = config_for(quota_fake, limits=FREE_TIER, state=redis_server.url)
    first, second = await start_gpool(config), await start_gpool(config)
    for client in (first, second):
        await client.get("/v1beta/models")
    statuses, waits = await drive([first, second], 300)
    assert statuses == {200: 200, 429: 100}
    assert quota_fake.app[FAKE_STATE].quota_refusals == 0
    assert all(1 <= w <= 61 for w in waits)
