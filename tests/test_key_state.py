"""Key intelligence end to end: declared limits, token counting, persistence, probes, budget."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gpool.config import AuthConfig, KeyConfig, LimitConfig, PoolConfig, RetryConfig
from gpool.fake import FakeState, fake_key
from gpool.keys import Effect, Verdict
from gpool.state import POOL, PROBE
from tests.conftest import MakeConfig, StartGpool, generate_calls
from tests.processes import GpoolProcess, write_config

BODY = b'{"contents":[{"parts":[{"text":"hello"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_declared_rpm_is_scheduled_and_the_excess_gets_429(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    limits = {"gemini-2.5-flash": LimitConfig(rpm=2)}
    client = await start_gpool(make_config([fake_key("ok", 1), fake_key("ok", 2)], limits=limits))
    statuses = [(await client.post(GENERATE, data=BODY)).status for _ in range(4)]
    assert statuses == [200] * 4
    native = await client.post(GENERATE, data=BODY)
    assert native.status == 429
    assert (await native.json())["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert 55 <= int(native.headers["Retry-After"]) <= 61
    openai = await client.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]},
    )
    assert openai.status == 429
    assert (await openai.json())["error"]["code"] == "rate_limit_exceeded"
    assert len(generate_calls(fake)) == 4  # the excess never reached the upstream


@pytest.mark.parametrize("route", ["native", "native-stream", "openai", "openai-stream"])
async def test_tokens_per_minute_come_from_usage_metadata(
    route: str, make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    # The fake's answers to this prompt cost a few dozen tokens each, thinking included.
    limits = {"gemini-2.5-flash": LimitConfig(tpm=60)}
    client = await start_gpool(make_config([fake_key("ok", 1)], limits=limits))

    async def ask() -> int:
        if route.startswith("native"):
            path = (
                GENERATE
                if route == "native"
                else GENERATE.replace(":generateContent", ":streamGenerateContent?alt=sse")
            )
            resp = await client.post(path, data=BODY)
        else:
            payload = {
                "model": "gemini-2.5-flash",
                "messages": [{"role": "user", "content": "hello"}],
                "stream": route == "openai-stream",
            }
            resp = await client.post("/v1/chat/completions", json=payload)
        await resp.read()
        return resp.status

    assert await ask() == 200
    key = client.app[POOL].keys[0]
    window = client.app[POOL].ledger.windows._windows[(key.key_id, "gemini-2.5-flash")]  # type: ignore[attr-defined]
    assert window.token_sum > 0
    statuses = [await ask() for _ in range(3)]
    assert statuses[-1] == 429


async def test_disabled_keys_and_cooldowns_survive_a_restart(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, tmp_path: Path
) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    bad, cooling, good = fake_key("invalid", 1), fake_key("rpm", 2), fake_key("ok", 3)
    config = make_config([bad, cooling, good], state=state)
    first = await start_gpool(config)
    assert (await first.post(GENERATE, data=BODY)).status == 200
    assert first.app[POOL].keys[0].disabled == "API_KEY_INVALID"
    await first.close()  # runs the app's cleanup, which writes the state out

    fake.clear()
    second = await start_gpool(config)
    keys = second.app[POOL].keys
    assert keys[0].disabled == "API_KEY_INVALID"
    assert keys[1].cooldowns["gemini-2.5-flash"] > time.time() + 20
    for _ in range(3):
        assert (await second.post(GENERATE, data=BODY)).status == 200
    assert {c.key for c in fake.calls} == {good}


async def test_recovery_probe_brings_back_a_key_that_works_again(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    still_bad, recovered = fake_key("invalid", 1), fake_key("ok", 2)
    client = await start_gpool(make_config([still_bad, recovered, fake_key("ok", 3)]))
    pool = client.app[POOL]
    pool.record_failure(pool.keys[0], "", Verdict(Effect.DISABLE, True, "API_KEY_INVALID"))
    pool.record_failure(pool.keys[1], "", Verdict(Effect.DISABLE, True, "CONSUMER_SUSPENDED"))
    back = await client.app[PROBE].probe_disabled()
    assert back == [pool.keys[1]]
    assert pool.keys[1].disabled is None and pool.keys[0].disabled == "API_KEY_INVALID"
    probes = [c for c in fake.calls if c.method_name == "list"]
    assert {c.key for c in probes} == {still_bad, recovered}
    assert all(c.query.get("pageSize") == "1" for c in probes)


async def test_retry_budget_stops_a_storm_from_multiplying_load(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    keys = [fake_key("overloaded", n) for n in range(10)]
    pool = PoolConfig(retry_budget_percent=10, retry_budget_min_per_second=0.1, eject_after=1000)
    client = await start_gpool(make_config(keys, pool=pool, retry=RetryConfig(max_attempts=5)))
    await client.get("/v1beta/models")  # load the model catalog first
    fake.clear()
    for _ in range(30):
        assert (await client.post(GENERATE, data=BODY)).status == 503
    # Without a budget: 30 x 5 = 150 calls. With it: 30 + 10% of 30 + 1 (the floor).
    assert len(generate_calls(fake)) <= 30 + 3 + 1


async def test_state_survives_sigkill(
    tmp_path: Path, unused_tcp_port: int, fake_server: TestServer, fake: FakeState
) -> None:
    """Killed without warning, gpool loses at most the last second of state."""
    bad, good = fake_key("invalid", 1), fake_key("ok", 2)
    config = write_config(tmp_path, fake_server, f"keys: [{bad}, {good}]\nstate: sqlite:///s.db\n")
    url = f"http://127.0.0.1:{unused_tcp_port}{GENERATE}"
    args = ["serve", "--config", str(config), "--port", str(unused_tcp_port)]
    gpool = await GpoolProcess.start(*args)
    try:
        async with aiohttp.ClientSession() as session, session.post(url, data=BODY) as resp:
            assert resp.status == 200
        await asyncio.sleep(1.5)  # one write-behind period, and some
        await gpool.kill()  # SIGKILL
        assert (tmp_path / "s.db").exists()
        fake.clear()
        gpool = await GpoolProcess.start(*args)
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.post(url, data=BODY) as resp:
                    assert resp.status == 200
        assert bad not in {c.key for c in fake.calls}
    finally:
        await gpool.kill()


async def test_openai_429_when_capacity_is_exhausted_names_the_wait(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    key = KeyConfig(key=fake_key("ok", 1), limits={"gemini-2.5-flash": LimitConfig(rpd=1)})
    client = await start_gpool(make_config([key], auth=AuthConfig(tokens=("sk-1",))))
    headers = {"Authorization": "Bearer sk-1"}
    payload: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "x"}],
    }
    assert (await client.post("/v1/chat/completions", json=payload, headers=headers)).status == 200
    resp = await client.post("/v1/chat/completions", json=payload, headers=headers)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 60  # until the Pacific-day reset
