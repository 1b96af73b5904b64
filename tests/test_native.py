"""The native Gemini surface through gpool: bytes in and out unchanged, both stream framings."""

from __future__ import annotations

import io
import json

import pytest

from gpool.config import ModelsConfig
from gpool.fake import FakeState, fake_key
from tests.conftest import MakeConfig, StartGpool, generate_calls

KEY = fake_key("ok", 1)
# Odd spacing, snake_case fields and a '<' that Google escapes: all must arrive as sent.
BODY = (
    b'{"contents": [{"role":"user","parts":[{"text":"hi <b>there</b>"}]}],'
    b'  "generation_config": {"temperature": 0.5, "thinking_config": {"include_thoughts": false}}}'
)


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_generate_passes_body_and_answer_through(
    version: str, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([KEY]))
    resp = await client.post(
        f"/{version}/models/gemini-2.5-flash:generateContent",
        data=BODY,
        headers={"Content-Type": "application/json"},
    )
    raw = await resp.read()
    assert resp.status == 200, raw
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    # Google's pretty printing and \u003c escaping survive the relay untouched.
    assert raw.startswith(b'{\n  "candidates"')
    assert b"\\u003cb\\u003e" in raw and b"<b>" not in raw
    answer = json.loads(raw)
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert "hi <b>there</b>" in answer["candidates"][0]["content"]["parts"][0]["text"]
    [call] = generate_calls(fake)
    assert call.body == BODY
    assert call.path == f"/{version}/models/gemini-2.5-flash:generateContent"
    assert call.key == KEY
    assert resp.headers["X-Request-Id"]


async def test_sse_stream_is_relayed_event_by_event(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([KEY]))
    body = b'{"contents":[{"parts":[{"text":"count [chunks=6]"}]}]}'
    resp = await client.post(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", data=body
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    raw = await resp.read()
    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b""
    payloads = [json.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
    assert len(payloads) == 6
    assert len({p["responseId"] for p in payloads}) == 1
    assert [("finishReason" in p["candidates"][0]) for p in payloads] == [False] * 5 + [True]
    [call] = generate_calls(fake)
    assert call.query == {"alt": "sse"}


async def test_json_array_stream_keeps_googles_framing(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([KEY]))
    body = b'{"contents":[{"parts":[{"text":"count [chunks=3]"}]}]}'
    resp = await client.post("/v1beta/models/gemini-2.5-flash:streamGenerateContent", data=body)
    raw = await resp.read()
    assert resp.status == 200
    assert raw.startswith(b"[{\n") and raw.endswith(b"\n]")
    assert raw.count(b"\n,\r\n") == 2
    assert len(json.loads(raw)) == 3


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        (
            "countTokens",
            {"contents": [{"parts": [{"text": "four words right here"}]}]},
            "totalTokens",
        ),
        (
            "embedContent",
            {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 8},
            "embedding",
        ),
    ],
)
async def test_other_model_methods_pass_through(
    method: str,
    body: dict[str, object],
    field: str,
    make_config: MakeConfig,
    start_gpool: StartGpool,
) -> None:
    model = "gemini-embedding-001" if method == "embedContent" else "gemini-2.5-flash"
    client = await start_gpool(make_config([KEY]))
    resp = await client.post(f"/v1beta/models/{model}:{method}", json=body)
    assert resp.status == 200, await resp.text()
    assert field in await resp.json()


async def test_batch_embed_through_an_alias_rewrites_each_entry(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    models = ModelsConfig(aliases={"embedder": "gemini-embedding-001"})
    client = await start_gpool(make_config([KEY], models=models))
    requests = [{"model": "models/embedder", "content": {"parts": [{"text": t}]}} for t in "ab"]
    resp = await client.post(
        "/v1beta/models/embedder:batchEmbedContents", json={"requests": requests}
    )
    assert resp.status == 200, await resp.text()
    assert len((await resp.json())["embeddings"]) == 2
    [call] = generate_calls(fake)
    assert call.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert {r["model"] for r in json.loads(call.body)["requests"]} == {
        "models/gemini-embedding-001"
    }


async def test_models_list_is_filtered_aliased_and_paged(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    models = ModelsConfig(
        allow=("gemini-*",), deny=("*-tts*",), aliases={"my-fast": "gemini-2.5-flash"}
    )
    client = await start_gpool(make_config([KEY], models=models))
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        resp = await client.get(
            "/v1beta/models", params={"pageSize": "4", **({"pageToken": token} if token else {})}
        )
        assert resp.status == 200
        page = await resp.json()
        pages += 1
        names += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert pages > 1
    assert "models/gemini-2.5-flash" in names and "models/my-fast" in names
    assert not [
        n for n in names if "tts" in n or not n.startswith(("models/gemini-", "models/my-"))
    ]
    assert len(names) == len(set(names))

    # /v1/models is shared with the OpenAI surface: x-goog-api-key asks for Gemini's shape.
    alias = await client.get("/v1/models/my-fast", headers={"x-goog-api-key": "any"})
    assert alias.status == 200
    assert (await alias.json())["name"] == "models/my-fast"
    denied = await client.get("/v1beta/models/gemini-2.5-flash-preview-tts")
    assert denied.status == 404
    assert (await denied.json())["error"]["status"] == "NOT_FOUND"


async def test_bad_page_token_is_a_google_400(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([KEY]))
    resp = await client.get("/v1beta/models", params={"pageToken": "!!nope"})
    assert resp.status == 400
    assert (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("model", "models"),
    [
        ("gemini-2.5-flash-preview-tts", ModelsConfig(deny=("*-tts*",))),
        ("gemma-3-27b-it", ModelsConfig(allow=("gemini-*",))),
        ("gemini-9-imaginary", ModelsConfig()),
    ],
    ids=["denied", "not-allowed", "unknown-upstream"],
)
async def test_refused_models_never_reach_upstream(
    model: str,
    models: ModelsConfig,
    make_config: MakeConfig,
    start_gpool: StartGpool,
    fake: FakeState,
) -> None:
    client = await start_gpool(make_config([KEY], models=models))
    resp = await client.post(f"/v1beta/models/{model}:generateContent", data=BODY)
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == 404 and error["status"] == "NOT_FOUND"
    assert model in error["message"]
    assert generate_calls(fake) == []


async def test_alias_is_sent_upstream_under_its_target(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    models = ModelsConfig(allow=("nothing-*",), aliases={"my-fast": "gemini-2.5-flash"})
    client = await start_gpool(make_config([KEY], models=models))
    resp = await client.post("/v1beta/models/my-fast:generateContent", data=BODY)
    assert resp.status == 200
    [call] = generate_calls(fake)
    assert call.path == "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.mark.parametrize(
    ("method", "path", "status", "google_status"),
    [
        ("GET", "/v1beta/nothing/here", 404, "NOT_FOUND"),
        ("GET", "/v1beta/models/gemini-2.5-flash:generateContent", 405, "UNIMPLEMENTED"),
        ("DELETE", "/v1beta/models", 405, "UNIMPLEMENTED"),
    ],
)
async def test_routing_errors_are_json_in_googles_shape(
    method: str,
    path: str,
    status: int,
    google_status: str,
    make_config: MakeConfig,
    start_gpool: StartGpool,
) -> None:
    client = await start_gpool(make_config([KEY]))
    resp = await client.request(method, path)
    assert resp.status == status
    assert resp.headers["Content-Type"].startswith("application/json")
    assert (await resp.json())["error"]["status"] == google_status
    assert resp.headers["X-Request-Id"]


async def test_client_request_id_is_echoed_and_garbage_replaced(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start_gpool(make_config([KEY]))
    good = await client.get("/healthz", headers={"X-Request-Id": "trace-42"})
    assert good.headers["X-Request-Id"] == "trace-42"
    bad = await client.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert bad.headers["X-Request-Id"] != "x" * 500 and len(bad.headers["X-Request-Id"]) == 16


async def test_hop_by_hop_and_client_credentials_stay_behind(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start_gpool(make_config([KEY]))
    headers = {
        "Content-Type": "application/json",
        "TE": "trailers",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "Cookie": "session=1",
        "x-goog-api-client": "genai-py/3.4.0",
        "User-Agent": "my-tool/1.0",
    }
    resp = await client.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", data=BODY, headers=headers
    )
    assert resp.status == 200
    [call] = generate_calls(fake)
    for dropped in ("te", "proxy-authorization", "cookie"):
        assert dropped not in call.headers
    assert call.headers["x-goog-api-client"] == "genai-py/3.4.0"
    assert call.headers["user-agent"] == "my-tool/1.0"
    assert call.headers["content-type"] == "application/json"


async def test_too_large_body_is_a_413_in_googles_shape(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    from gpool.config import ServerConfig

    client = await start_gpool(make_config([KEY], server=ServerConfig(max_body_mb=1)))
    big = b'{"contents":[{"parts":[{"text":"' + b"x" * (2 * 1024 * 1024) + b'"}]}]}'
    resp = await client.post(
        "/v1beta/models/gemini-2.5-flash:generateContent", data=io.BytesIO(big)
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == 413
    assert generate_calls(fake) == []


def test_upstream_urls_are_cached_per_path_and_query_and_never_carry_key() -> None:
    from gpool.config import UpstreamConfig
    from gpool.upstream import Upstream

    upstream = Upstream(UpstreamConfig(base_url="https://example.test/base"), [None])
    path = "/v1beta/models/m:streamGenerateContent"
    plain = upstream.url(path)
    sse = upstream.url(path, [("alt", "sse"), ("key", "sk-secret")])
    assert str(plain) == "https://example.test/base/v1beta/models/m:streamGenerateContent"
    assert str(sse) == str(plain) + "?alt=sse"
    assert upstream.url(path, [("alt", "sse")]) is sse
    assert upstream.url(path) is plain
