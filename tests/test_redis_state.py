"""``state: redis://``: pools and gpool apps sharing one real Redis, and surviving its outage."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from gpool.config import KeyConfig, LimitConfig
from gpool.errors import CapacityExhausted, NoKeyAvailable
from gpool.fake import FakeState, fake_key
from gpool.keys import Effect, KeyPool, Limit, LimitTable, PoolKey, Verdict, transient
from gpool.keys.build import make_ledger
from gpool.keys.classify import next_pacific_midnight
from gpool.keys.limits import WINDOW
from gpool.keys.redis_ledger import RedisLedger
from gpool.resources import ResourceOwner
from gpool.state import POOL
from tests.conftest import MakeConfig, StartGpool, generate_calls
from tests.redis_server import RedisServer

BODY = b'{"contents":[{"parts":[{"text":"hello"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
COOLDOWN = Verdict(Effect.COOLDOWN, retry=True, reason="RATE_LIMIT_EXCEEDED", cooldown=30)
DISABLE = Verdict(Effect.DISABLE, retry=True, reason="API_KEY_INVALID")
LIMITS = LimitTable({"flash": Limit(rpm=5), "daily": Limit(rpd=2), "tokens": Limit(tpm=1000)})

MakePools = Callable[[int], Awaitable[tuple[KeyPool, KeyPool]]]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_pools(redis_server: RedisServer, clock: Clock) -> AsyncIterator[MakePools]:
    """Two pools over the same ``n`` keys, as two gpool instances on one Redis would be."""
    started: list[KeyPool] = []

    async def make(n: int) -> tuple[KeyPool, KeyPool]:
        for _ in range(2):
            keys = [PoolKey(index=i, secret=f"secret-{i}", label=f"k{i}") for i in range(n)]
            ledger = RedisLedger(redis_server.url, clock=clock)
            pool = KeyPool(keys, clock=clock, limits=LIMITS, ledger=ledger)
            await ledger.start(pool)
            started.append(pool)
        return started[-2], started[-1]

    yield make
    for pool in started:
        await pool.ledger.close()


def shared(pool: KeyPool) -> RedisLedger:
    assert isinstance(pool.ledger, RedisLedger)
    return pool.ledger


async def until(condition: Callable[[], bool]) -> None:
    """Wait for another instance's announcement to arrive (it comes over pub/sub)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 5 s")


async def test_two_instances_never_exceed_a_shared_rpm(make_pools: MakePools, clock: Clock) -> None:
    a, b = await make_pools(1)
    start, served, refused = clock.now, 0, []
    for i in range(10):
        try:
            await (a, b)[i % 2].acquire("flash")
            served += 1
        except CapacityExhausted as exc:
            refused.append(exc)
        clock.now += 1
    assert served == 5 and len(refused) == 5
    assert refused[-1].retry_after == pytest.approx(start + WINDOW - (start + 9))
    clock.now = start + WINDOW + 0.5  # only the first request has left the window
    assert (await b.acquire("flash")).label == "k0"
    with pytest.raises(CapacityExhausted) as caught:
        await a.acquire("flash")
    assert caught.value.retry_after == 1.0  # 0.5 s, rounded up to the pool's floor
    # Concurrent acquires from both instances: the Lua script is atomic.
    clock.now += 120
    tries = [(a, b)[i % 2].acquire("flash") for i in range(20)]
    results = await asyncio.gather(*tries, return_exceptions=True)
    assert sum(isinstance(r, PoolKey) for r in results) == 5
    assert all(isinstance(r, (PoolKey, CapacityExhausted)) for r in results)


async def test_day_and_token_counts_are_shared(make_pools: MakePools, clock: Clock) -> None:
    a, b = await make_pools(1)
    await a.acquire("daily")
    await b.acquire("daily")
    with pytest.raises(CapacityExhausted) as caught:
        await a.acquire("daily")
    assert caught.value.retry_after == pytest.approx(next_pacific_midnight(clock.now) - clock.now)

    # 700 + 400 tokens, each instance under 1000 on its own.
    await a.record_success(await a.acquire("tokens"), "tokens", tokens=700)
    clock.now += 10
    await b.record_success(await b.acquire("tokens"), "tokens", tokens=400)
    with pytest.raises(CapacityExhausted) as caught:
        await a.acquire("tokens")
    assert caught.value.retry_after == pytest.approx(WINDOW - 10)  # when the 700 leave


async def test_cooldown_disable_and_enable_on_one_instance_reach_the_other(
    make_pools: MakePools, clock: Clock
) -> None:
    a, b = await make_pools(2)
    a.record_failure(a.keys[0], "flash", COOLDOWN)
    await shared(a).flush()
    # The reservation itself reads the shared health and tells B's own key at once.
    assert await b.ledger.reserve(b.keys[0], "flash", None, clock.now) == pytest.approx(30)
    assert b.keys[0].cooldowns["flash"] == pytest.approx(clock.now + 30)
    assert {(await b.acquire("flash")).label for _ in range(4)} == {"k1"}

    clock.now += 10
    a.record_failure(a.keys[1], "flash", COOLDOWN)
    await shared(a).flush()
    await until(lambda: "flash" in b.keys[1].cooldowns)  # B follows A's announcements
    with pytest.raises(NoKeyAvailable) as caught:
        await b.acquire("flash")
    assert caught.value.retry_after == pytest.approx(20)  # the sooner of the two ends

    a.record_failure(a.keys[0], "pro", DISABLE)
    await shared(a).flush()
    assert await b.ledger.reserve(b.keys[0], "pro", None, clock.now) == math.inf
    assert b.keys[0].disabled == "API_KEY_INVALID"
    assert {(await b.acquire("pro")).label for _ in range(4)} == {"k1"}

    for _ in range(3):  # the default policy ejects after three transient failures
        a.record_failure(a.keys[1], "pro", transient("UNAVAILABLE"))
    await shared(a).flush()
    assert await b.ledger.reserve(b.keys[1], "pro", None, clock.now) == pytest.approx(30)
    assert b.keys[1].ejected_until == pytest.approx(clock.now + 30)

    a.enable(a.keys[0])
    await shared(a).flush()
    await until(lambda: b.keys[0].disabled is None and not b.keys[0].cooldowns)
    assert {(await b.acquire("pro")).label for _ in range(2)} == {"k0"}


async def test_every_shared_entry_expires_except_a_disabled_keys_health(
    make_pools: MakePools, clock: Clock, redis_server: RedisServer
) -> None:
    a, _ = await make_pools(2)
    await a.acquire("flash")
    await a.record_success(await a.acquire("tokens"), "tokens", tokens=10)
    a.record_failure(a.keys[0], "flash", DISABLE)
    a.record_failure(a.keys[1], "flash", COOLDOWN)
    await shared(a).flush()
    redis = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        ttls = {name: await redis.ttl(name) for name in await redis.keys("gpool:*")}
    finally:
        await redis.aclose()
    disabled = f"gpool:{{{a.keys[0].key_id}}}:health"
    assert ttls.pop(disabled) == -1
    assert ttls.pop(f"gpool:{{{a.keys[1].key_id}}}:health") == 30 + 60
    day = next_pacific_midnight(clock.now) - clock.now
    assert ttls and all(0 < ttl <= max(120, day + 60) for ttl in ttls.values()), ttls


async def test_resource_owners_are_shared(make_pools: MakePools) -> None:
    a, b = await make_pools(1)
    alice = ResourceOwner(a.keys[0].key_id, "alice")
    await a.ledger.resources.remember("files/abc", alice)
    await a.ledger.resources.remember("files/b*b", alice)
    await a.ledger.resources.remember("cachedContents/x", alice)
    await a.ledger.resources.remember("files/bob", ResourceOwner(a.keys[0].key_id, "bob"))
    assert await b.ledger.resources.owner("files/abc") == alice
    assert sorted(await b.ledger.resources.names_for("alice", "files/")) == [
        ("files/abc", alice),
        ("files/b*b", alice),
    ]
    assert await b.ledger.resources.names_for("alice", "files/b*") == [("files/b*b", alice)]
    await b.ledger.resources.forget("files/abc")
    assert await a.ledger.resources.owner("files/abc") is None


async def test_two_gpool_apps_share_the_declared_rpm(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, redis_server: RedisServer
) -> None:
    limits = {"gemini-2.5-flash": LimitConfig(rpm=3)}
    keys = [KeyConfig(key=fake_key("ok", n), limits=limits) for n in (1, 2)]
    config = make_config(keys, state=redis_server.url)
    apps = [await start_gpool(config), await start_gpool(config)]
    statuses, waits = [], []
    for i in range(10):
        resp = await apps[i % 2].post(GENERATE, data=BODY)
        await resp.read()
        statuses.append(resp.status)
        if resp.status == 429:
            waits.append(int(resp.headers["Retry-After"]))
    assert Counter(statuses) == {200: 6, 429: 4}
    assert all(55 <= wait <= WINDOW for wait in waits)
    calls = Counter(c.key for c in generate_calls(fake))
    assert sum(calls.values()) == 6 and max(calls.values()) <= 3


async def test_a_redis_outage_is_not_a_gpool_outage(
    make_config: MakeConfig,
    start_gpool: StartGpool,
    fake: FakeState,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gpool.state")
    keys = [fake_key("ok", 1), fake_key("ok", 2)]
    config = make_config(keys, state=redis_server.url)
    first = await start_gpool(config)
    pool = first.app[POOL]
    assert (await first.post(GENERATE, data=BODY)).status == 200

    redis_server.stop()
    for _ in range(5):
        assert (await first.post(GENERATE, data=BODY)).status == 200
    pool.record_failure(pool.keys[1], "gemini-2.5-pro", COOLDOWN)  # kept here for now
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        "redis unreachable, serving on local state"
    ]

    redis_server.start()  # empty: nothing was saved
    await until(lambda: shared(pool).online)
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    second = await start_gpool(config)
    other = second.app[POOL]
    # The cooldown made during the outage was written on reconnection.
    assert other.keys[1].cooldowns["gemini-2.5-pro"] > time.time() + 20
    other.record_failure(other.keys[0], "gemini-2.5-flash", COOLDOWN)
    await shared(other).flush()
    fake.clear()
    for _ in range(3):
        assert (await first.post(GENERATE, data=BODY)).status == 200
    assert {c.key for c in generate_calls(fake)} == {keys[1]}


async def test_redis_state_without_the_redis_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    ledger = make_ledger(redis_server.url)
    assert isinstance(ledger, RedisLedger)
    await ledger.close()
    for name in [m for m in sys.modules if m.startswith(("redis.", "gpool.keys.redis_"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r"pip install 'gpool\[redis\]'"):
        make_ledger(redis_server.url)
