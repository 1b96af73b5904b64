"""Client auth and CORS, end to end: what the client sees and what reaches upstream."""

from __future__ import annotations

import pytest

from gpool.config import AuthConfig, CorsConfig
from gpool.fake import FakeState, fake_key
from tests.conftest import MakeConfig, StartGpool, generate_calls

KEY = fake_key("ok", 1)
TOKEN = "sk-client-1"
BODY = b'{"contents":[{"parts":[{"text":"hi"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, {}),
        ({"x-goog-api-key": TOKEN}, {}),
        ({}, {"key": TOKEN}),
    ],
    ids=["bearer", "x-goog-api-key", "query"],
)
async def test_token_is_accepted_and_replaced_by_the_pool_key(
    headers: dict[str, str],
    query: dict[str, str],
    make_config: MakeConfig,
    start_gpool: StartGpool,
    fake: FakeState,
) -> None:
    client = await start_gpool(make_config([KEY], auth=AuthConfig(tokens=(TOKEN,))))
    resp = await client.post(GENERATE, data=BODY, headers=headers, params={**query, "alt": "json"})
    assert resp.status == 200, await resp.text()
    [call] = generate_calls(fake)
    assert call.headers["x-goog-api-key"] == KEY
    assert "authorization" not in call.headers
    assert call.query == {"alt": "json"}
    assert TOKEN not in repr(call.headers) + repr(call.query)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-goog-api-key": "sk-wrong"},
        {"Authorization": "Bearer sk-client-12"},
        {"Authorization": "Basic c2s="},
    ],
    ids=["missing", "wrong", "prefix-of-another", "basic"],
)
async def test_missing_or_wrong_token_is_a_401_in_googles_shape(
    headers: dict[str, str], make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([KEY], auth=AuthConfig(tokens=(TOKEN,))))
    resp = await client.post(GENERATE, data=BODY, headers=headers)
    assert resp.status == 401
    error = (await resp.json())["error"]
    assert error == {"code": 401, "message": error["message"], "status": "UNAUTHENTICATED"}
    assert "sk-wrong" not in error["message"]
    assert generate_calls(fake) == []


async def test_401_on_an_openai_path_is_in_openais_shape(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([KEY], auth=AuthConfig(tokens=(TOKEN,))))
    resp = await client.post("/v1/chat/completions", json={})
    assert resp.status == 401
    error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"


async def test_health_needs_no_token(make_config: MakeConfig, start_gpool: StartGpool) -> None:
    client = await start_gpool(
        make_config([KEY, fake_key("ok", 2)], auth=AuthConfig(tokens=(TOKEN,)))
    )
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "keys": 2, "usable": 2}


async def test_preflight_is_answered_without_auth(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    config = make_config(
        [KEY],
        auth=AuthConfig(tokens=(TOKEN,)),
        cors=CorsConfig(allow_origins=("https://app.example",)),
    )
    client = await start_gpool(config)
    resp = await client.options(
        GENERATE,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-goog-api-key, content-type",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Headers"] == "x-goog-api-key, content-type"
    assert resp.headers["Vary"] == "Origin"


async def test_foreign_origin_gets_no_cors_headers(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(
        make_config([KEY], cors=CorsConfig(allow_origins=("https://app.example",)))
    )
    resp = await client.post(GENERATE, data=BODY, headers={"Origin": "https://evil.example"})
    assert resp.status == 200
    assert "Access-Control-Allow-Origin" not in resp.headers


@pytest.mark.parametrize(
    "path", [GENERATE, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"]
)
async def test_cors_headers_are_on_unary_streamed_and_error_answers(
    path: str, make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(
        make_config([KEY], auth=AuthConfig(tokens=(TOKEN,)), cors=CorsConfig(allow_origins=("*",)))
    )
    ok = await client.post(
        path, data=BODY, headers={"Origin": "https://a.example", "x-goog-api-key": TOKEN}
    )
    assert ok.status == 200
    await ok.read()
    assert ok.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in ok.headers["Access-Control-Expose-Headers"]
    denied = await client.post(path, data=BODY, headers={"Origin": "https://a.example"})
    assert denied.status == 401
    assert denied.headers["Access-Control-Allow-Origin"] == "*"
