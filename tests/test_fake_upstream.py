"""The built-in fake Gemini upstream: wire facts, faults, markers and recording."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gpool.fake import FAKE_STATE, FAULTS, FakeState, create_fake_app, fake_key

Client = TestClient[web.Request, web.Application]
FLASH = "/v1beta/models/gemini-2.5-flash"
RPC = "type.googleapis.com/google.rpc."
KEY = fake_key()
HDR = {"x-goog-api-key": KEY}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def body(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"contents": [user(text)], **extra}


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    c: Client = await aiohttp_client(create_fake_app(slow_delay=0.2, rpm_retry_delay=37.48))
    return c


@pytest.fixture
def state(client: Client) -> FakeState:
    return client.app[FAKE_STATE]


async def post(client: Client, path: str, payload: Any, key: str | None = KEY) -> tuple[int, Any]:
    headers = {"x-goog-api-key": key} if key else {}
    resp = await client.post(path, json=payload, headers=headers)
    return resp.status, await resp.json()


async def sse_events(client: Client, model: str, payload: Any) -> list[dict[str, Any]]:
    path = f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
    resp = await client.post(path, json=payload, headers=HDR)
    assert resp.status == 200, await resp.text()
    raw = await resp.read()
    assert raw.endswith(b"\r\n\r\n")
    return [json.loads(e.removeprefix(b"data: ")) for e in raw.split(b"\r\n\r\n")[:-1]]


def parts_of(answer: dict[str, Any], index: int = 0) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = answer["candidates"][index]["content"]["parts"]
    return parts


# --- keys and faults ---------------------------------------------------------------------


def test_fake_key_looks_like_a_real_key() -> None:
    for fault in FAULTS:
        key = fake_key(fault, 3)
        assert len(key) == 39 and key.startswith(f"AIzaFAKE_{fault}_") and key.endswith("3")
    with pytest.raises(ValueError, match="unknown fault"):
        fake_key("nope")


@pytest.mark.parametrize(
    ("fault", "code", "status", "types"),
    [
        ("invalid", 400, "INVALID_ARGUMENT", ["ErrorInfo", "LocalizedMessage"]),
        ("suspended", 403, "PERMISSION_DENIED", ["ErrorInfo", "LocalizedMessage"]),
        ("rpm", 429, "RESOURCE_EXHAUSTED", ["Help", "QuotaFailure", "RetryInfo"]),
        ("rpd", 429, "RESOURCE_EXHAUSTED", ["Help", "QuotaFailure", "RetryInfo"]),
        ("internal", 500, "INTERNAL", None),
        ("overloaded", 503, "UNAVAILABLE", None),
        ("flaky", 503, "UNAVAILABLE", None),
    ],
)
async def test_fault_keys_answer_googles_errors(
    client: Client, fault: str, code: int, status: str, types: list[str] | None
) -> None:
    key = fake_key(fault, 7)
    resp = await client.post(
        f"{FLASH}:generateContent", json=body(), headers={"x-goog-api-key": key}
    )
    raw = await resp.read()
    assert resp.status == code
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert "Retry-After" not in resp.headers
    assert raw.startswith(b'{\n  "error": {\n    "code": ')
    assert key.encode() not in raw and b"AIza" not in raw
    error = json.loads(raw)["error"]
    assert (error["code"], error["status"]) == (code, status)
    if types is None:
        assert "details" not in error
        return
    assert [d["@type"] for d in error["details"]] == [RPC + t for t in types]


@pytest.mark.parametrize(
    ("fault", "reason", "message"),
    [
        ("invalid", "API_KEY_INVALID", "API key not valid. Please pass a valid API key."),
        ("suspended", "CONSUMER_SUSPENDED", "Permission denied: Consumer"),
    ],
)
async def test_key_errors_carry_error_info(
    client: Client, fault: str, reason: str, message: str
) -> None:
    _, answer = await post(client, f"{FLASH}:generateContent", body(), fake_key(fault))
    info = answer["error"]["details"][0]
    assert answer["error"]["message"].startswith(message)
    assert (info["reason"], info["domain"]) == (reason, "googleapis.com")
    assert info["metadata"]["service"] == "generativelanguage.googleapis.com"


@pytest.mark.parametrize(
    ("fault", "method", "model", "quota_id", "value"),
    [
        ("rpm", "generateContent", "gemini-2.5-flash",
         "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10"),
        ("rpd", "generateContent", "gemini-2.5-pro",
         "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "250"),
        ("rpm", "embedContent", "gemini-embedding-001",
         "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier", "100"),
    ],
)  # fmt: skip
async def test_quota_errors_name_the_window_and_model(
    client: Client, fault: str, method: str, model: str, quota_id: str, value: str
) -> None:
    payload = {"content": {"parts": [{"text": "x"}]}} if method == "embedContent" else body()
    _, answer = await post(client, f"/v1beta/models/{model}:{method}", payload, fake_key(fault))
    error = answer["error"]
    _, quota, retry = error["details"]
    [violation] = quota["violations"]
    assert violation["quotaId"] == quota_id and violation["quotaValue"] == value
    assert violation["quotaDimensions"] == {"location": "global", "model": model}
    assert retry["retryDelay"] == "37s"
    assert error["message"].endswith(f"model: {model}\nPlease retry in 37.48s.")


async def test_retry_delay_is_configurable(aiohttp_client: Any) -> None:
    client: Client = await aiohttp_client(create_fake_app(rpm_retry_delay=0.5))
    _, answer = await post(client, f"{FLASH}:generateContent", body(), fake_key("rpm"))
    assert answer["error"]["details"][2]["retryDelay"] == "0.500s"
    assert answer["error"]["message"].endswith("Please retry in 0.5s.")


async def test_flaky_key_fails_every_other_call(client: Client, state: FakeState) -> None:
    key = fake_key("flaky", 1)
    statuses = [(await post(client, f"{FLASH}:generateContent", body(), key))[0] for _ in range(4)]
    assert statuses == [503, 200, 503, 200]
    state.clear()
    assert (await post(client, f"{FLASH}:generateContent", body(), key))[0] == 503


async def test_slow_key_answers_late(client: Client) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _ = await post(client, f"{FLASH}:generateContent", body(), fake_key("slow"))
    assert status == 200 and loop.time() - started >= 0.2


async def test_stalled_key_never_answers(client: Client, state: FakeState) -> None:
    timeout = aiohttp.ClientTimeout(total=0.3)
    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            f"{FLASH}:generateContent",
            json=body(),
            headers={"x-goog-api-key": fake_key("stalled")},
            timeout=timeout,
        )
    assert state.keys_seen() == [fake_key("stalled")]


async def test_cut_key_aborts_a_stream_after_the_first_event(client: Client) -> None:
    headers = {"x-goog-api-key": fake_key("cut")}
    path = f"{FLASH}:streamGenerateContent?alt=sse"
    resp = await client.post(path, json=body("long [chunks=5]"), headers=headers)
    assert resp.status == 200
    first = await resp.content.readuntil(b"\r\n\r\n")
    assert "finishReason" not in json.loads(first.removeprefix(b"data: "))["candidates"][0]
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_cut_key_hangs_up_on_a_unary_call(client: Client) -> None:
    headers = {"x-goog-api-key": fake_key("cut")}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.post(f"{FLASH}:generateContent", json=body(), headers=headers)


@pytest.mark.parametrize(
    ("headers", "query"), [({}, ""), ({"x-goog-api-key": ""}, "")], ids=["none", "empty"]
)
async def test_no_key_is_an_unregistered_caller(
    client: Client, headers: dict[str, str], query: str
) -> None:
    resp = await client.post(f"{FLASH}:generateContent{query}", json=body(), headers=headers)
    error = (await resp.json())["error"]
    assert resp.status == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")
    assert "details" not in error


async def test_key_in_query_works_and_picks_the_fault(client: Client, state: FakeState) -> None:
    ok = await client.post(f"{FLASH}:generateContent?key={KEY}", json=body())
    bad = await client.get(f"/v1/models?key={fake_key('overloaded')}")
    assert (ok.status, bad.status) == (200, 503)
    assert state.keys_seen() == [KEY, fake_key("overloaded")]


# --- routes, models and errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/v2/models"),
        ("GET", "/v1beta/tunedThings"),
        ("GET", f"{FLASH}:generateContent"),
        ("POST", f"{FLASH}:fly"),
    ],
)
async def test_unknown_paths_get_googles_html_404(
    client: Client, state: FakeState, method: str, path: str
) -> None:
    resp = await client.request(method, path, headers=HDR)
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "Error 404 (Not Found)!!1" in await resp.text()
    assert state.calls[-1].path == path.split("?")[0]


@pytest.mark.parametrize(
    ("version", "model", "method"),
    [
        ("v1beta", "gemini-9-ultra", "generateContent"),
        ("v1", "gemini-2.5-flash", "embedContent"),
        ("v1alpha", "gemini-embedding-001", "streamGenerateContent"),
        ("v1beta", "imagen-4.0-generate-001", "generateContent"),
    ],
)
async def test_unknown_model_or_method_is_json_404(
    client: Client, version: str, model: str, method: str
) -> None:
    status, answer = await post(client, f"/{version}/models/{model}:{method}", body())
    assert status == 404 and answer["error"]["status"] == "NOT_FOUND"
    assert answer["error"]["message"] == (
        f"models/{model} is not found for API version {version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods."
    )


async def test_get_model(client: Client) -> None:
    resp = await client.get("/v1/models/gemini-2.5-pro", headers=HDR)
    model = await resp.json()
    assert model["name"] == "models/gemini-2.5-pro" and model["thinking"] is True
    assert "generateContent" in model["supportedGenerationMethods"]
    for field in ("version", "displayName", "inputTokenLimit", "topP", "maxTemperature"):
        assert field in model
    missing = await client.get("/v1beta/models/nope", headers=HDR)
    assert missing.status == 404 and (await missing.json())["error"]["status"] == "NOT_FOUND"


async def test_models_paging_walks_every_page(client: Client) -> None:
    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = "pageSize=5" + (f"&pageToken={token}" if token else "")
        page = await (await client.get(f"/v1beta/models?{query}", headers=HDR)).json()
        pages += 1
        names += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if token is None:
            assert len(page["models"]) <= 5
            break
        assert len(page["models"]) == 5
    whole = await (await client.get("/v1beta/models", headers=HDR)).json()
    assert names == [m["name"] for m in whole["models"]] and "nextPageToken" not in whole
    assert pages == -(-len(names) // 5) and len(names) >= 15
    assert "models/gemini-embedding-001" in names and "models/gemini-3-pro-preview" in names
    bad = await client.get("/v1beta/models?pageToken=garbage", headers=HDR)
    assert bad.status == 400


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "Invalid JSON payload received."),
        (b"[1]", "Invalid JSON payload received."),
        (b"{}", "* GenerateContentRequest.contents: contents is not specified"),
        (b'{"contents": 3}', "* GenerateContentRequest.contents"),
    ],
)
async def test_bad_bodies_are_invalid_argument(
    client: Client, payload: bytes, message: str
) -> None:
    resp = await client.post(f"{FLASH}:generateContent", data=payload, headers=HDR)
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(message)


# --- generation ----------------------------------------------------------------------------


async def test_unary_answer_is_pretty_and_escapes_angle_brackets(client: Client) -> None:
    resp = await client.post(f"{FLASH}:generateContent", json=body("hi <b>"), headers=HDR)
    raw = await resp.read()
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert raw.startswith(b'{\n  "candidates": [\n    {\n')
    assert b"<" not in raw and b">" not in raw and b"\\u003cb\\u003e" in raw
    answer = json.loads(raw)
    [candidate] = answer["candidates"]
    assert candidate["content"] == {"parts": [{"text": "Echo: hi <b>"}], "role": "model"}
    assert (candidate["finishReason"], candidate["index"]) == ("STOP", 0)
    usage = answer["usageMetadata"]
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    assert usage["promptTokensDetails"][0]["modality"] == "TEXT"
    assert answer["modelVersion"] == "gemini-2.5-flash" and len(answer["responseId"]) == 22


async def test_sse_framing(client: Client) -> None:
    path = f"{FLASH}:streamGenerateContent?alt=sse"
    resp = await client.post(path, json=body("a <tag> [chunks=4]"), headers=HDR)
    assert resp.headers["Content-Type"] == "text/event-stream"
    raw = await resp.read()
    assert b"<" not in raw
    chunks = raw.split(b"\r\n\r\n")
    assert chunks[-1] == b"" and all(c.startswith(b"data: {") for c in chunks[:-1])
    assert all(b"\n" not in c for c in chunks[:-1])
    events = [json.loads(c[6:]) for c in chunks[:-1]]
    assert len(events) == 4 and len({e["responseId"] for e in events}) == 1
    finishes = [e["candidates"][0].get("finishReason") for e in events]
    assert finishes == [None, None, None, "STOP"]
    assert "".join(parts_of(e)[0]["text"] for e in events) == "Echo: a <tag>"
    totals = [e["usageMetadata"]["totalTokenCount"] for e in events]
    assert totals == sorted(totals) and all("usageMetadata" in e for e in events)


async def test_json_array_framing(client: Client) -> None:
    path = f"{FLASH}:streamGenerateContent"
    resp = await client.post(path, json=body("x [chunks=3]"), headers=HDR)
    assert resp.headers["Content-Type"] == "application/json; charset=UTF-8"
    raw = await resp.read()
    assert raw.startswith(b'[{\n  "candidates"') and raw.endswith(b"}\n]")
    pieces = raw[1:-2].split(b"\n,\r\n")
    assert len(pieces) == 3 and all(p.startswith(b"{\n") for p in pieces)
    events = json.loads(raw)
    assert [json.loads(p) for p in pieces] == events
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("sse", [True, False])
async def test_midstream_error_marker(client: Client, sse: bool) -> None:
    path = f"{FLASH}:streamGenerateContent" + ("?alt=sse" if sse else "")
    resp = await client.post(path, json=body("x [chunks=5] [midstream_error=503]"), headers=HDR)
    raw = await resp.read()
    events = [json.loads(c[6:]) for c in raw.split(b"\r\n\r\n")[:-1]] if sse else json.loads(raw)
    assert len(events) == 2 and "candidates" in events[0]
    assert events[1] == {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }


async def test_chunks_marker_splits_and_pads(client: Client) -> None:
    events = await sse_events(client, "gemini-2.0-flash", body("hi [chunks=20]"))
    texts = [parts_of(e)[0]["text"] for e in events]
    assert len(events) == 20 and all(texts) and "".join(texts).startswith("Echo: hi Lorem")


async def test_delay_marker_spaces_the_events(client: Client) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sse_events(client, "gemini-2.0-flash", body("hi [chunks=3] [delay_ms=50]"))
    assert loop.time() - started >= 0.1


async def test_snake_case_fields_are_read(client: Client) -> None:
    payload = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "look"},
                    {"inline_data": {"mime_type": "image/png", "data": "iVBORw0KGgo="}},
                ],
            }
        ],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {
            "max_output_tokens": 1,
            "thinking_config": {"include_thoughts": True, "thinking_budget": 100},
        },
    }
    status, answer = await post(client, f"{FLASH}:generateContent", payload)
    assert status == 200
    parts = parts_of(answer)
    assert parts[0]["thought"] is True and parts[1]["text"] == "Echo"
    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    details = {
        d["modality"]: d["tokenCount"] for d in answer["usageMetadata"]["promptTokensDetails"]
    }
    assert details["IMAGE"] == 258
    assert answer["usageMetadata"]["thoughtsTokenCount"] <= 100


async def test_thoughts_come_first_when_asked(client: Client) -> None:
    config = {"thinkingConfig": {"includeThoughts": True}}
    events = await sse_events(client, "gemini-2.5-flash", body("hm", generationConfig=config))
    assert parts_of(events[0]) == [{"text": parts_of(events[0])[0]["text"], "thought": True}]
    assert all("thought" not in p for e in events[1:] for p in parts_of(e))
    assert all(e["usageMetadata"]["thoughtsTokenCount"] > 0 for e in events)
    _, answer = await post(client, "/v1beta/models/gemini-2.0-flash:generateContent", body())
    assert "thoughtsTokenCount" not in answer["usageMetadata"]


@pytest.mark.parametrize(
    ("model", "thinking", "code"),
    [
        ("gemini-2.5-pro", {"thinkingBudget": 0}, 400),
        ("gemini-2.5-flash", {"thinkingBudget": 0}, 200),
        ("gemini-2.5-flash", {"thinkingLevel": "low"}, 400),
        ("gemini-3-pro-preview", {"thinkingLevel": "low"}, 200),
        ("gemini-3-pro-preview", {"thinkingBudget": 1024}, 200),
    ],
)
async def test_thinking_config_rules(
    client: Client, model: str, thinking: dict[str, Any], code: int
) -> None:
    payload = body(generationConfig={"thinkingConfig": thinking})
    status, answer = await post(client, f"/v1beta/models/{model}:generateContent", payload)
    assert status == code, answer
    if code == 400:
        assert answer["error"]["status"] == "INVALID_ARGUMENT"


TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
                    "required": ["city", "days"],
                },
            },
            {"name": "get_time", "parametersJsonSchema": {"type": "object"}},
        ]
    }
]


@pytest.mark.parametrize(
    ("model", "signed"),
    [("gemini-2.5-flash", [True, False]), ("gemini-2.0-flash", [False, False])],
)
async def test_parallel_calls_only_the_first_is_signed(
    client: Client, model: str, signed: list[bool]
) -> None:
    payload = body("weather? [parallel=2]", tools=TOOLS)
    _, answer = await post(client, f"/v1beta/models/{model}:generateContent", payload)
    parts = parts_of(answer)
    assert [p["functionCall"]["name"] for p in parts] == ["get_weather", "get_time"]
    assert parts[0]["functionCall"]["args"] == {"city": "value", "days": 1}
    assert ["thoughtSignature" in p for p in parts] == signed
    assert answer["candidates"][0]["finishReason"] == "STOP"


async def test_tool_config_none_and_allowed_names(client: Client) -> None:
    config: dict[str, Any] = {"functionCallingConfig": {"mode": "NONE"}}
    _, answer = await post(client, f"{FLASH}:generateContent", body(tools=TOOLS, toolConfig=config))
    assert parts_of(answer)[0]["text"] == "Echo: hello"
    config = {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_time"]}}
    payload = body(tools=TOOLS, tool_config=config)
    _, answer = await post(client, f"{FLASH}:generateContent", payload)
    assert parts_of(answer)[0]["functionCall"] == {"name": "get_time", "args": {}}


def history(signature: str | None, key: str = "thoughtSignature") -> list[dict[str, Any]]:
    call: dict[str, Any] = {"functionCall": {"name": "get_weather", "args": {"city": "x"}}}
    if signature is not None:
        call[key] = signature
    result = {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}
    return [
        user("weather?"),
        {"role": "model", "parts": [call]},
        {"role": "user", "parts": [result]},
    ]


@pytest.mark.parametrize(
    ("model", "contents", "code"),
    [
        ("gemini-3-pro-preview", history(None), 400),
        ("gemini-3-flash-preview", history("c2ln"), 200),
        ("gemini-3-pro-preview", history("c2ln", "thought_signature"), 200),
        ("gemini-2.5-flash", history(None), 200),
    ],
)
async def test_gemini_3_wants_signed_function_call_history(
    client: Client, model: str, contents: list[dict[str, Any]], code: int
) -> None:
    path = f"/v1beta/models/{model}:generateContent"
    status, answer = await post(client, path, {"contents": contents, "tools": TOOLS})
    assert status == code
    if code == 400:
        message = answer["error"]["message"]
        assert message.startswith("Function call is missing a thought_signature")
        assert "`default_api:get_weather` , position 2." in message
    else:
        assert parts_of(answer)[-1]["text"] == 'Result received: {"temp": 21}'


async def test_gemini_3_signs_its_text(client: Client) -> None:
    _, answer = await post(client, "/v1beta/models/gemini-3-pro-preview:generateContent", body())
    assert "thoughtSignature" in parts_of(answer)[-1]
    events = await sse_events(client, "gemini-3-pro-preview", body())
    assert ["thoughtSignature" in parts_of(e)[0] for e in events] == [False, False, True]


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION"])
async def test_finish_marker_stops_without_content(client: Client, reason: str) -> None:
    _, answer = await post(client, f"{FLASH}:generateContent", body(f"x [finish={reason}]"))
    [candidate] = answer["candidates"]
    assert "content" not in candidate and candidate["finishReason"] == reason
    assert ("safetyRatings" in candidate) is (reason == "SAFETY")
    events = await sse_events(client, "gemini-2.5-flash", body(f"x [finish={reason}]"))
    assert "content" not in events[-1]["candidates"][0]
    assert events[-1]["candidates"][0]["finishReason"] == reason


async def test_max_tokens_marker_truncates(client: Client) -> None:
    _, answer = await post(client, f"{FLASH}:generateContent", body("abcdefgh [finish=MAX_TOKENS]"))
    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert parts_of(answer)[0]["text"] == "Echo: a"


async def test_block_marker_blocks_the_prompt(client: Client) -> None:
    _, answer = await post(client, f"{FLASH}:generateContent", body("x [block=SAFETY]"))
    assert "candidates" not in answer
    assert answer["promptFeedback"]["blockReason"] == "SAFETY"
    assert answer["promptFeedback"]["safetyRatings"]


async def test_several_candidates(client: Client) -> None:
    _, answer = await post(client, f"{FLASH}:generateContent", body("x [candidates=2]"))
    assert [c["index"] for c in answer["candidates"]] == [0, 1]
    assert parts_of(answer, 0)[0]["text"] != parts_of(answer, 1)[0]["text"]
    payload = body(generationConfig={"candidateCount": 3})
    events = await sse_events(client, "gemini-2.0-flash", payload)
    assert all(len(e["candidates"]) == 3 for e in events)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"responseMimeType": "application/json"}, {"echo": "Echo: hi"}),
        (
            {
                "response_mime_type": "application/json",
                "response_json_schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "n": {"type": "integer"},
                        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                    },
                },
            },
            {"name": "value", "n": 1, "tags": ["a"]},
        ),
    ],
)
async def test_json_mode(client: Client, config: dict[str, Any], expected: Any) -> None:
    _, answer = await post(client, f"{FLASH}:generateContent", body("hi", generationConfig=config))
    assert json.loads(parts_of(answer)[0]["text"]) == expected


async def test_count_tokens(client: Client) -> None:
    contents = [user("four words right here")]
    path = f"{FLASH}:countTokens"
    _, direct = await post(client, path, {"contents": contents})
    _, wrapped = await post(client, path, {"generateContentRequest": {"contents": contents}})
    assert (
        direct
        == wrapped
        == {
            "totalTokens": 6,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
        }
    )


# --- embeddings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "dims", "expected"),
    [("gemini-embedding-001", None, 3072), ("text-embedding-004", None, 768),
     ("gemini-embedding-001", 256, 256)],
)  # fmt: skip
async def test_embed_content(client: Client, model: str, dims: int | None, expected: int) -> None:
    payload: dict[str, Any] = {
        "content": {"parts": [{"text": "hello"}]},
        "taskType": "RETRIEVAL_QUERY",
    }
    if dims:
        payload["output_dimensionality"] = dims
    path = f"/v1beta/models/{model}:embedContent"
    resp = await client.post(path, json=payload, headers=HDR)
    raw = await resp.read()
    assert raw.startswith(b'{\n  "embedding": {\n    "values": [\n      ')
    values = json.loads(raw)["embedding"]["values"]
    assert len(values) == expected and all(isinstance(v, float) for v in values)
    _, again = await post(client, path, payload)
    assert again["embedding"]["values"] == values


async def test_batch_embed(client: Client) -> None:
    path = "/v1beta/models/gemini-embedding-001:batchEmbedContents"

    def request(text: str, model: str = "models/gemini-embedding-001") -> dict[str, Any]:
        return {"model": model, "content": {"parts": [{"text": text}]}, "outputDimensionality": 8}

    status, answer = await post(
        client, path, {"requests": [request("a"), request("b"), request("a")]}
    )
    vectors = [e["values"] for e in answer["embeddings"]]
    assert status == 200 and [len(v) for v in vectors] == [8, 8, 8]
    assert vectors[0] == vectors[2] != vectors[1]
    status, answer = await post(client, path, {"requests": [request("a")] * 101})
    assert status == 400 and "at most 100 requests" in answer["error"]["message"]
    status, answer = await post(
        client, path, {"requests": [request("a", "models/text-embedding-004")]}
    )
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"


# --- recording -----------------------------------------------------------------------------


async def test_every_call_is_recorded_exactly(client: Client, state: FakeState) -> None:
    raw = b'{"contents": [{"parts":[{"text":"hi"}]}] }'
    headers = {"X-Goog-Api-Key": KEY, "X-Custom": "1"}
    await client.post(f"{FLASH}:streamGenerateContent?alt=sse", data=raw, headers=headers)
    await client.get("/v1alpha/models/gemini-2.5-pro")
    await client.get("/nowhere?key=abc")
    first, second, third = state.calls
    assert first.body == raw and first.method == "POST"
    assert first.path == f"{FLASH}:streamGenerateContent" and first.query == {"alt": "sse"}
    assert first.headers["x-goog-api-key"] == KEY and first.headers["x-custom"] == "1"
    assert (first.key, first.model, first.api_version, first.method_name) == (
        KEY, "gemini-2.5-flash", "v1beta", "streamGenerateContent",
    )  # fmt: skip
    assert (second.key, second.model, second.api_version, second.method_name) == (
        None, "gemini-2.5-pro", "v1alpha", "get",
    )  # fmt: skip
    assert (third.key, third.model, third.method_name, third.body) == ("abc", None, None, b"")
    assert state.keys_seen() == [KEY, None, "abc"]
    state.clear()
    assert state.calls == []


# --- the official SDK against the fake -----------------------------------------------------


async def test_google_genai_sdk_talks_to_the_fake(aiohttp_server: Any) -> None:
    from google import genai
    from google.genai import types

    server: TestServer = await aiohttp_server(create_fake_app())
    options = types.HttpOptions(base_url=str(server.make_url("/")), api_version="v1beta")
    client = genai.Client(api_key=fake_key(), http_options=options)
    try:
        answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        assert answer.text == "Echo: hi"
        assert answer.usage_metadata is not None and answer.usage_metadata.total_token_count
        stream = await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="stream [chunks=4]"
        )
        chunks = [chunk async for chunk in stream]
        assert len(chunks) == 4 and "".join(c.text or "" for c in chunks) == "Echo: stream"
        assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == "STOP"
        with pytest.raises(genai.errors.ClientError) as info:
            await client.aio.models.generate_content(model="gemini-9", contents="hi")
        assert info.value.code == 404
        state = server.app[FAKE_STATE]
        assert {c.api_version for c in state.calls} == {"v1beta"}
    finally:
        await client.aio.aclose()
