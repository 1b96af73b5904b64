"""The official openai SDK, sync and async, drives gpool's OpenAI surface end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gpool.config import AuthConfig, MediaConfig, ModelsConfig, RetryConfig
from gpool.fake import FakeState, fake_key
from tests.conftest import MakeConfig, StartGpool, generate_calls

# Both JSON implementations: orjson (gpool[speed]) and the standard library.
pytestmark = pytest.mark.usefixtures("json_backend")

TOKEN = "sk-openai-client"
OK = fake_key("ok", 1)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
async def sdk() -> AsyncIterator[Callable[[TestClient[Any, Any]], openai.AsyncOpenAI]]:
    """Make async SDK clients aimed at a gpool; each is closed after the test."""
    made: list[openai.AsyncOpenAI] = []

    def make(client: TestClient[Any, Any]) -> openai.AsyncOpenAI:
        made.append(
            openai.AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key=TOKEN, max_retries=0)
        )
        return made[-1]

    yield make
    for client in made:
        await client.close()


SDK = Callable[[TestClient[Any, Any]], openai.AsyncOpenAI]


async def start(
    make_config: MakeConfig, start_gpool: StartGpool, keys: list[str] | None = None, **sections: Any
) -> TestClient[Any, Any]:
    sections.setdefault("auth", AuthConfig(tokens=(TOKEN,)))
    return await start_gpool(make_config(keys or [OK], **sections))


def upstream_body(fake: FakeState, index: int = -1) -> dict[str, Any]:
    return json.loads(generate_calls(fake)[index].body)  # type: ignore[no-any-return]


async def test_plain_chat_with_system_prompt(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = sdk(await start(make_config, start_gpool))
    answer = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello gpool"},
        ],
        temperature=0.2,
        max_tokens=200,
    )
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == "gemini-2.5-flash"
    assert "Hello gpool" in (answer.choices[0].message.content or "")
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    sent = upstream_body(fake)
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 200}
    call = generate_calls(fake)[-1]
    assert call.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert call.key == OK and TOKEN not in json.dumps(call.headers)


async def test_sync_client_works_too(make_config: MakeConfig, start_gpool: StartGpool) -> None:
    app_client = await start(make_config, start_gpool)

    def run() -> str:
        # The sync client blocks, so it runs in a thread while the loop serves gpool.
        with openai.OpenAI(
            base_url=str(app_client.make_url("/v1")), api_key=TOKEN, max_retries=0
        ) as client:
            answer = client.chat.completions.create(
                model="gemini-2.5-flash", messages=[{"role": "user", "content": "sync hi"}]
            )
            chunks = client.chat.completions.create(
                model="gemini-2.5-flash",
                messages=[{"role": "user", "content": "sync stream [chunks=3]"}],
                stream=True,
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return (answer.choices[0].message.content or "") + "|" + streamed

    text = await asyncio.to_thread(run)
    assert "sync hi" in text and "sync stream" in text


async def test_streaming_chat_with_usage(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = sdk(await start(make_config, start_gpool))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "tell me a story [chunks=6]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert len({c.id for c in chunks}) == 1
    with_choices = [c for c in chunks if c.choices]
    roles = [c.choices[0].delta.role for c in with_choices]
    assert roles[0] == "assistant" and set(roles[1:]) <= {None}
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert "tell me a story" in text
    assert [c.choices[0].finish_reason for c in with_choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


async def test_n_gives_several_choices(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = sdk(await start(make_config, start_gpool))
    answer = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "pick"}], n=2
    )
    assert [c.index for c in answer.choices] == [0, 1]
    assert upstream_body(fake)["generationConfig"]["candidateCount"] == 2


async def test_images_inline_and_by_url(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, aiohttp_server: Any
) -> None:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    origin = web.Application()
    origin.router.add_get("/cat.png", image)
    server = await aiohttp_server(origin)
    client = sdk(await start(make_config, start_gpool, media=MediaConfig(allow_private=True)))
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    answer = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "compare these"},
                    {"type": "image_url", "image_url": {"url": data_url}},
                    {"type": "image_url", "image_url": {"url": str(server.make_url("/cat.png"))}},
                ],
            }
        ],
    )
    assert answer.choices[0].message.content
    parts = upstream_body(fake)["contents"][0]["parts"]
    inline = [p["inlineData"] for p in parts if "inlineData" in p]
    assert inline == [{"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}] * 2


async def test_private_image_urls_are_refused_by_default(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, aiohttp_server: Any
) -> None:
    server = await aiohttp_server(web.Application())
    client = sdk(await start(make_config, start_gpool))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": str(server.make_url("/x.png"))}}
                    ],
                }
            ],
        )
    assert "private" in str(caught.value)
    assert generate_calls(fake) == []


async def test_json_schema_output(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    client = sdk(await start(make_config, start_gpool))
    answer = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "largest city"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": schema, "strict": True},
        },
    )
    parsed = json.loads(answer.choices[0].message.content or "")
    assert set(parsed) >= {"city", "population"}
    config = upstream_body(fake)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "streamed"])
async def test_three_turn_tool_conversation_keeps_thought_signatures(
    sdk: SDK, stream: bool, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    """An agent loop on a Gemini 3 model: the signature must come back on the same call."""
    client = sdk(await start(make_config, start_gpool))
    model = "gemini-3-pro-preview"
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]

    async def ask() -> dict[str, Any]:
        if not stream:
            answer = await client.chat.completions.create(
                model=model, messages=messages, tools=[WEATHER_TOOL]
            )  # type: ignore[arg-type]
            choice = answer.choices[0]
            return {
                "finish": choice.finish_reason,
                "message": choice.message.model_dump(exclude_none=True),
            }
        calls: dict[int, dict[str, Any]] = {}
        text, finish = "", None
        async for chunk in await client.chat.completions.create(
            model=model, messages=messages, tools=[WEATHER_TOOL], stream=True
        ):  # type: ignore[arg-type]
            delta = chunk.choices[0].delta
            text += delta.content or ""
            for call in delta.tool_calls or []:
                entry = calls.setdefault(
                    call.index, {"type": "function", "function": {"name": "", "arguments": ""}}
                )
                entry["id"] = call.id or entry.get("id")
                entry["function"]["name"] += (call.function and call.function.name) or ""
                entry["function"]["arguments"] += (call.function and call.function.arguments) or ""
                extra = (call.model_extra or {}).get("extra_content")
                if extra:
                    entry["extra_content"] = extra
            finish = chunk.choices[0].finish_reason or finish
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [calls[i] for i in sorted(calls)]
        return {"finish": finish, "message": message}

    first = await ask()
    assert first["finish"] == "tool_calls"
    [call] = first["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert set(json.loads(call["function"]["arguments"])) == {"city"}
    assert upstream_body(fake)["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    signature = call["extra_content"]["google"]["thought_signature"]
    assert signature

    messages += [
        first["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'},
    ]
    second = await ask()
    assert second["finish"] == "stop"
    assert "21" in second["message"]["content"]
    sent = upstream_body(fake)
    model_turn = sent["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["thoughtSignature"] == signature
    assert model_turn["parts"][0]["functionCall"]["name"] == "get_weather"
    assert sent["contents"][2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"temp_c": 21},
    }

    messages += [second["message"], {"role": "user", "content": "And tomorrow?"}]
    third = await ask()
    assert third["finish"] == "tool_calls"
    assert len(upstream_body(fake)["contents"]) == 5


async def test_reasoning_effort_and_thoughts(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = sdk(await start(make_config, start_gpool))
    plain = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "think"}],
        reasoning_effort="high",
    )
    assert upstream_body(fake)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 24576}
    assert not (plain.choices[0].message.model_extra or {}).get("reasoning_content")
    assert plain.usage is not None and plain.usage.completion_tokens_details is not None
    assert plain.usage.completion_tokens_details.reasoning_tokens

    shown = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "think aloud"}],
        extra_body={"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}},
    )
    assert (shown.choices[0].message.model_extra or {}).get("reasoning_content")
    assert upstream_body(fake)["generationConfig"]["thinkingConfig"]["includeThoughts"] is True

    stream = await client.chat.completions.create(
        model="gemini-3-pro-preview",
        messages=[{"role": "user", "content": "think aloud [chunks=3]"}],
        reasoning_effort="low",
        extra_body={"google": {"thinking_config": {"include_thoughts": True}}},
        stream=True,
    )
    reasoning = ""
    async for chunk in stream:
        reasoning += (chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
    assert reasoning
    assert upstream_body(fake)["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "low",
        "includeThoughts": True,
    }


async def test_embeddings_batch_dimensions_and_base64(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = sdk(await start(make_config, start_gpool))
    answer = await client.embeddings.create(
        model="gemini-embedding-001", input=["a", "b", "c"], dimensions=8
    )
    assert [d.index for d in answer.data] == [0, 1, 2]
    assert all(len(d.embedding) == 8 for d in answer.data)
    assert answer.usage.prompt_tokens > 0

    raw = await client.embeddings.with_raw_response.create(
        model="gemini-embedding-001", input="one", dimensions=4, encoding_format="base64"
    )
    encoded = json.loads(raw.content)["data"][0]["embedding"]
    assert len(struct.unpack("<4f", base64.b64decode(encoded))) == 4

    fake.clear()
    many = await client.embeddings.create(
        model="gemini-embedding-001", input=[f"t{i}" for i in range(150)], dimensions=4
    )
    assert len(many.data) == 150
    batches = [json.loads(c.body)["requests"] for c in generate_calls(fake)]
    assert [len(b) for b in batches] == [100, 50]


async def test_models_list_and_retrieve(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    models = ModelsConfig(
        allow=("gemini-*",), deny=("*-tts*",), aliases={"fast": "gemini-2.5-flash"}
    )
    app_client = await start(make_config, start_gpool, models=models)
    client = sdk(app_client)
    ids = [m.id async for m in client.models.list()]
    assert "gemini-2.5-flash" in ids and "fast" in ids
    assert not [i for i in ids if "tts" in i or i.startswith("models/")]
    one = await client.models.retrieve("fast")
    assert one.id == "fast" and one.object == "model"
    # The same path in Gemini's shape for a caller that authenticates the Gemini way.
    native = await app_client.get("/v1/models", headers={"x-goog-api-key": TOKEN})
    assert all(m["name"].startswith("models/") for m in (await native.json())["models"])
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gemini-2.5-flash-preview-tts")


async def test_failover_is_invisible(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    keys = [fake_key("invalid", 1), fake_key("rpm", 2), fake_key("overloaded", 3), OK]
    client = sdk(await start(make_config, start_gpool, keys, retry=RetryConfig(max_attempts=4)))
    for _ in range(3):
        answer = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content
    assert generate_calls(fake)[-1].key == OK


async def test_all_keys_rate_limited_is_a_429_with_retry_after(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = sdk(await start(make_config, start_gpool, [fake_key("rpm", 1), fake_key("rpm", 2)]))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert 30 <= int(caught.value.response.headers["Retry-After"]) <= 38


async def test_google_client_error_keeps_googles_message(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = sdk(await start(make_config, start_gpool, [OK, fake_key("ok", 2)]))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gemini-2.5-pro",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"google": {"thinking_config": {"thinking_budget": 0}}},
        )
    assert "Budget 0 is invalid" in caught.value.message
    assert caught.value.type == "invalid_request_error"
    assert len(generate_calls(fake)) == 1


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (b"{not json", 400, None, "not valid JSON"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model", "model"),
        (b'{"model": "gemini-2.5-flash"}', 400, None, "messages"),
        (b'{"model": "gemini-2.5-flash", "messages": "hi"}', 400, None, "messages"),
        (
            b'{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}',
            404,
            None,
            "no-such-model",
        ),
    ],
    ids=["malformed", "no-model", "no-messages", "messages-not-list", "unknown-model"],
)
async def test_bad_requests_are_openai_errors(
    body: bytes,
    status: int,
    param: str | None,
    words: str,
    make_config: MakeConfig,
    start_gpool: StartGpool,
    fake: FakeState,
) -> None:
    client = await start(make_config, start_gpool)
    resp = await client.post(
        "/v1/chat/completions", data=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status == status
    error = (await resp.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"]
    if param:
        assert error["param"] == param
    assert generate_calls(fake) == []


async def test_stream_cut_mid_way_is_an_error_not_a_stop(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = sdk(await start(make_config, start_gpool, [fake_key("cut", 1)]))
    stream = await client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "long [chunks=5]"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_gemini3_tools_work_for_clients_that_drop_extra_content(
    sdk: SDK, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    """LangChain and friends keep only id, type and function of a tool call."""
    client = sdk(await start(make_config, start_gpool))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = await client.chat.completions.create(
        model="gemini-3-flash-preview",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    [call] = first.choices[0].message.tool_calls or []
    stripped = {"id": call.id, "type": "function", "function": call.function.model_dump()}  # type: ignore[union-attr]
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [stripped]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = await client.chat.completions.create(
        model="gemini-3-flash-preview",
        messages=messages,  # type: ignore[arg-type]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert "sunny" in (second.choices[0].message.content or "")
    part = upstream_body(fake)["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == "skip_thought_signature_validator"


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "streamed"])
@pytest.mark.parametrize(("parallel", "expected"), [(None, 2), (False, 1)])
async def test_parallel_tool_calls_false_keeps_one_call(
    sdk: SDK,
    stream: bool,
    parallel: bool | None,
    expected: int,
    make_config: MakeConfig,
    start_gpool: StartGpool,
) -> None:
    client = sdk(await start(make_config, start_gpool))
    extra = {} if parallel is None else {"parallel_tool_calls": parallel}
    args: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "two cities [parallel=2]"}],
        "tools": [WEATHER_TOOL],
        **extra,
    }
    if not stream:
        answer = await client.chat.completions.create(**args)
        calls = answer.choices[0].message.tool_calls or []
        assert answer.choices[0].finish_reason == "tool_calls"
    else:
        calls = [
            call
            async for chunk in await client.chat.completions.create(**args, stream=True)
            for call in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
        ]
    assert len(calls) == expected
