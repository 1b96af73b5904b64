"""Failover through the key pool against the fake's fault keys, and streams that fail late."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp.test_utils import TestServer

from gpool.config import RetryConfig
from gpool.fake import FakeState, fake_key
from gpool.state import POOL
from tests.conftest import MakeConfig, StartGpool, generate_calls

BODY = b'{"contents":[{"parts":[{"text":"hello"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


# The first request loads the model catalog through the pool, so the bad key meets the
# upstream first on the listing call. A key disabled there is never offered the generate
# call; a cooldown or a transient error on the listing leaves it in play for the model.
DISABLED_ON_LISTING = ["list:bad", "list:good", "generateContent:good"]
TRIED_AGAIN = ["list:bad", "list:good", "generateContent:bad", "generateContent:good"]


@pytest.mark.parametrize(
    ("fault", "disabled", "cooling", "calls"),
    [
        ("invalid", "API_KEY_INVALID", False, DISABLED_ON_LISTING),
        ("suspended", "CONSUMER_SUSPENDED", False, DISABLED_ON_LISTING),
        ("rpm", None, True, TRIED_AGAIN),
        ("rpd", None, True, TRIED_AGAIN),
        ("exhausted", None, True, TRIED_AGAIN),
        ("internal", None, False, TRIED_AGAIN),
        ("overloaded", None, False, TRIED_AGAIN),
    ],
)
async def test_each_fault_fails_over_to_a_good_key(
    fault: str,
    disabled: str | None,
    cooling: bool,
    calls: list[str],
    make_config: MakeConfig,
    start_gpool: StartGpool,
    fake: FakeState,
) -> None:
    bad, good = fake_key(fault, 1), fake_key("ok", 2)
    client = await start_gpool(make_config([bad, good]))
    resp = await client.post(GENERATE, data=BODY)
    assert resp.status == 200, await resp.text()
    names = {bad: "bad", good: "good"}
    assert [f"{c.method_name}:{names[c.key]}" for c in fake.calls] == calls
    key = client.app[POOL].keys[0]
    assert key.disabled == disabled
    assert ("gemini-2.5-flash" in key.cooldowns) is cooling
    assert "gemini-2.5-pro" not in key.cooldowns


async def test_per_minute_429_cools_down_for_the_retry_delay(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([fake_key("rpm", 1), fake_key("ok", 2)]))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.post(GENERATE, data=BODY)
    import time

    remaining = client.app[POOL].keys[0].cooldowns["gemini-2.5-flash"] - time.time()
    assert 30 < remaining <= 37.5 + (loop.time() - started)


async def test_per_day_429_cools_down_until_pacific_midnight(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    import time

    from gpool.keys.classify import next_pacific_midnight

    client = await start_gpool(make_config([fake_key("rpd", 1), fake_key("ok", 2)]))
    await client.post(GENERATE, data=BODY)
    until = client.app[POOL].keys[0].cooldowns["gemini-2.5-flash"]
    assert until == pytest.approx(next_pacific_midnight(time.time()), abs=5)


async def test_a_key_is_never_tried_twice_and_attempts_are_capped(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    keys = [fake_key("internal", n) for n in range(5)]
    client = await start_gpool(make_config(keys, retry=RetryConfig(max_attempts=3)))
    resp = await client.post(GENERATE, data=BODY)
    # The last attempt's answer comes back as Google sent it.
    assert resp.status == 500
    assert (await resp.json())["error"]["status"] == "INTERNAL"
    seen = [c.key for c in generate_calls(fake)]
    assert len(seen) == 3 and len(set(seen)) == 3


async def test_disabled_key_is_not_used_again(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    bad, good = fake_key("invalid", 1), fake_key("ok", 2)
    client = await start_gpool(make_config([bad, good]))
    for _ in range(4):
        assert (await client.post(GENERATE, data=BODY)).status == 200
    assert [c.key for c in fake.calls].count(bad) == 1


async def test_all_keys_cooling_gives_503_with_retry_after(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([fake_key("rpm", 1), fake_key("rpm", 2)]))
    first = await client.post(GENERATE, data=BODY)
    # Two keys, three attempts: the third finds no key left.
    assert first.status == 503
    error = (await first.json())["error"]
    assert error["status"] == "UNAVAILABLE" and "cooling down" in error["message"]
    assert 30 <= int(first.headers["Retry-After"]) <= 38
    calls_before = len(generate_calls(fake))
    again = await client.post(GENERATE, data=BODY)
    assert again.status == 503 and "Retry-After" in again.headers
    assert len(generate_calls(fake)) == calls_before  # nothing sent while all cool down
    # Quotas are per model: both keys are still worth a try for pro.
    other_model = await client.post("/v1beta/models/gemini-2.5-pro:generateContent", data=BODY)
    assert other_model.status == 503
    pro_calls = [c for c in generate_calls(fake)[calls_before:] if c.model == "gemini-2.5-pro"]
    assert len(pro_calls) == 2


async def test_all_keys_disabled_gives_503(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([fake_key("invalid", 1), fake_key("suspended", 2)]))
    resp = await client.post(GENERATE, data=BODY)
    assert resp.status == 503
    assert "disabled" in (await resp.json())["error"]["message"]


async def test_client_errors_are_returned_as_is_without_retry(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([fake_key("ok", 1), fake_key("ok", 2)]))
    body = (
        b'{"contents":[{"parts":[{"text":"x"}]}],'
        b'"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}'
    )
    resp = await client.post("/v1beta/models/gemini-2.5-pro:generateContent", data=body)
    assert resp.status == 400
    assert (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"
    assert len(generate_calls(fake)) == 1
    assert all(k.disabled is None for k in client.app[POOL].keys)


async def test_flaky_key_fails_over_then_recovers(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([fake_key("flaky", 1), fake_key("ok", 2)]))
    statuses = [(await client.post(GENERATE, data=BODY)).status for _ in range(4)]
    assert statuses == [200] * 4
    assert client.app[POOL].keys[0].disabled is None


async def test_stalled_key_times_out_and_fails_over(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, upstream_url: str
) -> None:
    from gpool.config import UpstreamConfig

    upstream = UpstreamConfig(base_url=upstream_url, connect_timeout=1, read_timeout=0.5)
    client = await start_gpool(
        make_config([fake_key("stalled", 1), fake_key("ok", 2)], upstream=upstream)
    )
    resp = await client.post(GENERATE, data=BODY)
    assert resp.status == 200
    assert [c.key for c in generate_calls(fake)] == [fake_key("stalled", 1), fake_key("ok", 2)]


async def test_unreachable_upstream_is_a_502_in_dialect(
    make_config: MakeConfig, start_gpool: StartGpool, unused_tcp_port: int
) -> None:
    from gpool.config import UpstreamConfig

    upstream = UpstreamConfig(base_url=f"http://127.0.0.1:{unused_tcp_port}", connect_timeout=1)
    client = await start_gpool(
        make_config([fake_key("ok", 1), fake_key("ok", 2)], upstream=upstream)
    )
    resp = await client.post(GENERATE, data=BODY)
    assert resp.status == 502
    assert (await resp.json())["error"]["status"] == "UNAVAILABLE"


async def test_stream_cut_mid_way_ends_with_an_error_event_not_a_clean_stop(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    cut, good = fake_key("cut", 1), fake_key("ok", 2)
    client = await start_gpool(make_config([cut, good]))
    body = b'{"contents":[{"parts":[{"text":"long [chunks=5]"}]}]}'
    resp = await client.post(STREAM, data=body)
    assert resp.status == 200
    events = [e for e in (await resp.read()).split(b"\r\n\r\n") if e]
    first, last = json.loads(events[0][6:]), json.loads(events[-1][6:])
    assert "candidates" in first
    assert last["error"]["status"] == "UNAVAILABLE"
    # After the first byte there is no failover: only the cut key was called.
    assert [c.key for c in generate_calls(fake)] == [cut]


async def test_midstream_error_in_array_framing_closes_the_array(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([fake_key("cut", 1)]))
    body = b'{"contents":[{"parts":[{"text":"long [chunks=5]"}]}]}'
    resp = await client.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent", data=body)
    elements = json.loads(await resp.read())
    assert "candidates" in elements[0]
    assert elements[-1]["error"]["code"] == 503


async def test_upstream_reported_midstream_error_is_relayed_once(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([fake_key("ok", 1)]))
    body = b'{"contents":[{"parts":[{"text":"x [chunks=4] [midstream_error=503]"}]}]}'
    resp = await client.post(STREAM, data=body)
    raw = await resp.read()
    assert raw.count(b'"error"') == 1


async def test_client_disconnect_cancels_the_upstream_call(
    make_config: MakeConfig, start_gpool: StartGpool, fake_server: TestServer
) -> None:
    client = await start_gpool(make_config([fake_key("ok", 1)]))
    body = b'{"contents":[{"parts":[{"text":"slow [chunks=200] [delay_ms=100]"}]}]}'
    resp = await client.post(STREAM, data=body)
    assert (await resp.content.readuntil(b"\r\n\r\n")).startswith(b"data: ")
    upstream_server = fake_server.runner.server  # type: ignore[union-attr]
    assert upstream_server is not None and len(upstream_server.connections) == 1
    resp.close()  # the client hangs up mid-stream
    for _ in range(50):
        if not upstream_server.connections:
            break
        await asyncio.sleep(0.02)
    assert upstream_server.connections == []


async def test_no_secret_reaches_the_log(
    make_config: MakeConfig, start_gpool: StartGpool, caplog: pytest.LogCaptureFixture
) -> None:
    from gpool.config import AuthConfig

    keys = [fake_key(f, n) for n, f in enumerate(["invalid", "rpm", "internal", "ok"])]
    client = await start_gpool(
        make_config(
            keys, auth=AuthConfig(tokens=("sk-client-secret",)), retry=RetryConfig(max_attempts=4)
        )
    )
    caplog.set_level(logging.DEBUG)
    resp = await client.post(GENERATE + "?key=sk-client-secret", data=BODY)
    assert resp.status == 200
    resp = await client.post(GENERATE, data=BODY, headers={"x-goog-api-key": "sk-wrong-token"})
    assert resp.status == 401
    assert "?key" not in caplog.text
    for secret in [*keys, "sk-client-secret", "sk-wrong-token"]:
        assert secret not in caplog.text


async def test_disconnect_without_handler_cancellation_still_frees_upstream(
    make_config: MakeConfig, fake_server: TestServer
) -> None:
    """A parent app that keeps aiohttp's default (no handler cancellation): the next write
    notices the hang-up, the upstream call is closed, and the key is not blamed."""
    import aiohttp
    from aiohttp import web

    from gpool import create_app

    app = create_app(make_config([fake_key("ok", 1)]))
    runner = web.AppRunner(app, handler_cancellation=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        body = b'{"contents":[{"parts":[{"text":"slow [chunks=200] [delay_ms=50]"}]}]}'
        async with aiohttp.ClientSession() as session:
            resp = await session.post(f"http://127.0.0.1:{port}{STREAM}", data=body)
            await resp.content.readuntil(b"\r\n\r\n")
            resp.close()
        upstream_server = fake_server.runner.server  # type: ignore[union-attr]
        assert upstream_server is not None
        for _ in range(100):
            if not upstream_server.connections:
                break
            await asyncio.sleep(0.02)
        assert upstream_server.connections == []
        key = app[POOL].keys[0]
        assert key.failures == 0 and key.disabled is None
    finally:
        await runner.cleanup()


def test_403_about_a_resource_does_not_disable_the_key() -> None:
    from gpool.keys import Effect, classify

    body = json.dumps(
        {
            "error": {
                "code": 403,
                "message": "You do not have permission to access the File abc or it may not exist.",
                "status": "PERMISSION_DENIED",
            }
        }
    ).encode()
    verdict = classify(403, body, now=0)
    assert verdict.effect is Effect.NONE and not verdict.retry


async def test_bare_429_backs_off_exponentially(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    """A 429 with no delay in it: 2 s, then 4 s, ... (pool.backoff_base, doubled)."""
    import time

    from gpool.config import PoolConfig

    pool_config = PoolConfig(backoff_base=2, backoff_cap=300)
    client = await start_gpool(
        make_config([fake_key("exhausted", 1), fake_key("ok", 2)], pool=pool_config)
    )
    key = client.app[POOL].keys[0]
    seen = []
    for _ in range(3):
        key.cooldowns.pop("gemini-2.5-flash", None)  # let it be tried again at once
        assert (await client.post(GENERATE, data=BODY)).status == 200
        seen.append(round(key.cooldowns["gemini-2.5-flash"] - time.time()))
    assert seen == [2, 4, 8]


async def test_repeated_5xx_eject_a_key_until_its_time_is_up(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    from gpool.config import PoolConfig

    sick, good = fake_key("internal", 1), fake_key("ok", 2)
    pool_config = PoolConfig(eject_after=3, eject_base=30, max_ejected_percent=50)
    client = await start_gpool(make_config([sick, good], pool=pool_config))
    await client.get("/v1beta/models")  # the catalog listing, on whichever key
    for _ in range(6):
        assert (await client.post(GENERATE, data=BODY)).status == 200
    calls = [c.key for c in generate_calls(fake)]
    assert calls.count(sick) == 3 - sum(
        1 for c in fake.calls if c.method_name == "list" and c.key == sick
    )
    assert client.app[POOL].keys[0].ejected_until > 0
