"""OpenAI chat requests -> Gemini GenerateContentRequest: one table row per mapping rule."""

from __future__ import annotations

from typing import Any

import pytest

from gpool.errors import BadRequest
from gpool.translate import ChatPlan, FetchedMedia, chat_request_to_gemini, remote_image_urls

USER = [{"role": "user", "content": "hi"}]
PNG = "iVBORw0KGgo="


def plan_of(model: str = "gemini-2.5-flash", **body: Any) -> ChatPlan:
    body.setdefault("messages", USER)
    return chat_request_to_gemini(body, upstream_model=model)


def config_of(model: str = "gemini-2.5-flash", **body: Any) -> Any:
    return plan_of(model, **body).body.get("generationConfig")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, None),
        ({"temperature": 0}, {"temperature": 0}),
        ({"temperature": 1.5, "top_p": 0.5}, {"temperature": 1.5, "topP": 0.5}),
        ({"max_tokens": 10}, {"maxOutputTokens": 10}),
        ({"max_completion_tokens": 20}, {"maxOutputTokens": 20}),
        ({"max_tokens": 10, "max_completion_tokens": 20}, {"maxOutputTokens": 20}),
        ({"stop": "x"}, {"stopSequences": ["x"]}),
        ({"stop": ["x", "y"]}, {"stopSequences": ["x", "y"]}),
        ({"stop": []}, None),
        ({"n": 1}, None),
        ({"n": 3}, {"candidateCount": 3}),
        ({"seed": 42}, {"seed": 42}),
        ({"presence_penalty": 0.1}, {"presencePenalty": 0.1}),
        ({"frequency_penalty": 0.2}, {"frequencyPenalty": 0.2}),
        ({"logprobs": True}, {"responseLogprobs": True}),
        ({"logprobs": False}, None),
        ({"logprobs": True, "top_logprobs": 5}, {"responseLogprobs": True, "logprobs": 5}),
        ({"temperature": None, "stop": None, "n": None}, None),
        ({"response_format": {"type": "text"}}, None),
        ({"response_format": {"type": "json_object"}}, {"responseMimeType": "application/json"}),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            {"responseMimeType": "application/json"},
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "strict": True, "schema": {"type": "object"}},
                }
            },
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
        (
            {"user": "u", "metadata": {}, "store": True, "logit_bias": {}, "prediction": {}},
            None,
        ),
        ({"modalities": ["text"], "service_tier": "auto", "whatever": 1}, None),
    ],
)
def test_generation_config(body: dict[str, Any], expected: Any) -> None:
    assert config_of(**body) == expected


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-flash", "minimal", {"thinkingBudget": 1024}),
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024}),
        ("gemini-2.5-flash", "medium", {"thinkingBudget": 8192}),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576}),
        ("gemini-2.5-flash-lite", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128}),
        ("models/gemini-2.5-pro", "high", {"thinkingBudget": 24576}),
        ("gemini-pro-latest", "none", {"thinkingBudget": 128}),
        ("gemini-flash-latest", "medium", {"thinkingBudget": 8192}),
        ("gemini-3-pro-preview", "none", {"thinkingLevel": "low"}),
        ("gemini-3-pro-preview", "minimal", {"thinkingLevel": "low"}),
        ("gemini-3-flash-preview", "low", {"thinkingLevel": "low"}),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "high"}),
        ("gemini-3-pro-preview", "high", {"thinkingLevel": "high"}),
        ("gemini-2.0-flash", "high", None),
        ("gemma-3-27b-it", "high", None),
        ("gemini-2.5-flash-image", "low", None),
        ("gemini-2.5-flash-preview-tts", "low", None),
    ],
)
def test_reasoning_effort(model: str, effort: str, expected: Any) -> None:
    config = config_of(model, reasoning_effort=effort) or {}
    assert config.get("thinkingConfig") == expected


@pytest.mark.parametrize(
    ("model", "body", "thinking", "include"),
    [
        (
            "gemini-2.5-flash",
            {"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}},
            {"includeThoughts": True},
            True,
        ),
        (
            "gemini-2.5-flash",
            {"google": {"thinking_config": {"includeThoughts": True, "thinking_budget": 99}}},
            {"includeThoughts": True, "thinkingBudget": 99},
            True,
        ),
        (
            "gemini-2.5-flash",
            {"reasoning_effort": "high", "google": {"thinking_config": {"thinking_budget": 5}}},
            {"thinkingBudget": 5},
            False,
        ),
        (
            "gemini-2.5-flash",
            {"reasoning_effort": "high", "google": {"thinkingConfig": {"thinkingLevel": "low"}}},
            {"thinkingLevel": "low"},
            False,
        ),
        (
            "gemini-3-pro-preview",
            {"reasoning_effort": "low", "google": {"thinking_config": {"include_thoughts": True}}},
            {"thinkingLevel": "low", "includeThoughts": True},
            True,
        ),
        (
            "gemini-2.0-flash",
            {"google": {"thinking_config": {"include_thoughts": False}}},
            {"includeThoughts": False},
            False,
        ),
    ],
)
def test_google_thinking_config(
    model: str, body: dict[str, Any], thinking: Any, include: bool
) -> None:
    plan = plan_of(model, **body)
    assert plan.body["generationConfig"]["thinkingConfig"] == thinking
    assert plan.include_thoughts is include


@pytest.mark.parametrize(
    "body",
    [
        {"google": {"cached_content": "cachedContents/x"}},
        {"extra_body": {"google": {"cached_content": "cachedContents/x"}}},
        {"google": {"cachedContent": "cachedContents/x"}},
    ],
)
def test_cached_content(body: dict[str, Any]) -> None:
    assert plan_of(**body).body["cachedContent"] == "cachedContents/x"


@pytest.mark.parametrize(
    ("body", "stream", "include_usage"),
    [
        ({}, False, False),
        ({"stream": True}, True, False),
        ({"stream": True, "stream_options": {"include_usage": True}}, True, True),
        ({"stream": False, "stream_options": {"include_usage": False}}, False, False),
    ],
)
def test_stream_flags(body: dict[str, Any], stream: bool, include_usage: bool) -> None:
    plan = plan_of(**body)
    assert (plan.stream, plan.include_usage) == (stream, include_usage)


WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("none", {"mode": "NONE"}),
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: Any) -> None:
    body = plan_of(tools=[WEATHER], tool_choice=choice, parallel_tool_calls=False).body
    assert body.get("toolConfig") == (expected and {"functionCallingConfig": expected})
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "weather", "parametersJsonSchema": {"type": "object"}}]}
    ]


def test_tool_choice_without_tools_is_dropped() -> None:
    body = plan_of(tool_choice="auto", tools=[]).body
    assert "tools" not in body and "toolConfig" not in body


def test_declaration_drops_schema_uri_and_strict() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "description": "d",
            "strict": True,
            "parameters": {"$schema": "x", "type": "object", "properties": {"$schema": {}}},
        },
    }
    decl = plan_of(tools=[tool]).body["tools"][0]["functionDeclarations"][0]
    assert decl == {
        "name": "f",
        "description": "d",
        "parametersJsonSchema": {"type": "object", "properties": {"$schema": {}}},
    }


def tool_turn(content: Any) -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        *USER,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": content},
    ]
    part: dict[str, Any] = plan_of(messages=messages).body["contents"][-1]["parts"][0]
    return part


@pytest.mark.parametrize(
    ("content", "response"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", {"content": [1, 2]}),
        ("42", {"content": 42}),
        ('"quoted"', {"content": "quoted"}),
        ("null", {"content": None}),
        ("plain text", {"content": "plain text"}),
        ("NaN", {"content": "NaN"}),
        ("", {"content": ""}),
        ([{"type": "text", "text": '{"b":'}, {"type": "text", "text": "2}"}], {"b": 2}),
        ([{"type": "text", "text": "one"}], {"content": "one"}),
    ],
)
def test_tool_result(content: Any, response: Any) -> None:
    assert tool_turn(content) == {"functionResponse": {"name": "f", "response": response}}


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ({"type": "text", "text": "t"}, {"text": "t"}),
        (
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"inlineData": {"mimeType": "image/png", "data": PNG}},
        ),
        (
            {"type": "image_url", "image_url": f"data:IMAGE/JPEG;name=a;base64,{PNG}"},
            {"inlineData": {"mimeType": "image/jpeg", "data": PNG}},
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
            {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
            {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
        ),
        (
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        ),
        (
            {"type": "file", "file": {"file_data": "aGk=", "filename": "a.csv"}},
            {"inlineData": {"mimeType": "text/csv", "data": "aGk="}},
        ),
        (
            {"type": "file", "file": {"file_data": "aGk=", "filename": "noext"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "aGk="}},
        ),
    ],
)
def test_user_parts(part: dict[str, Any], expected: dict[str, Any]) -> None:
    media = {"https://x.test/a.png": FetchedMedia(mime_type="image/webp", data_b64="UklGRg==")}
    body = {"messages": [{"role": "user", "content": [part]}]}
    plan = chat_request_to_gemini(body, upstream_model="gemini-2.5-flash", media=media)
    assert plan.body["contents"] == [{"role": "user", "parts": [expected]}]


def test_turns_merge_and_roles_map() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
    messages = [
        {"role": "system", "content": "s1"},
        {"role": "user", "content": "u1"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "a1"},
        {"role": "assistant", "content": [{"type": "text", "text": "a2"}], "tool_calls": [call]},
        {
            "role": "developer",
            "content": [{"type": "text", "text": "s2"}, {"type": "text", "text": ""}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": None},
    ]
    plan = plan_of(messages=messages)
    assert plan.body["systemInstruction"] == {"parts": [{"text": "s1"}, {"text": "s2"}]}
    assert plan.body["contents"] == [
        {"role": "user", "parts": [{"text": "u1"}]},
        {
            "role": "model",
            "parts": [
                {"text": "a1"},
                {"text": "a2"},
                {"functionCall": {"name": "f", "args": {"x": 1}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "f", "response": {"content": "r"}}},
                {"text": "u2"},
            ],
        },
    ]
    assert plan.tool_names == {"c1": "f"}


def test_lone_system_message_becomes_the_user_turn() -> None:
    body = plan_of(messages=[{"role": "system", "content": "do it"}]).body
    assert body == {"contents": [{"role": "user", "parts": [{"text": "do it"}]}]}


def test_remote_image_urls() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://a.test/1.png"}},
                    {"type": "image_url", "image_url": "HTTP://b.test/2.png"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "text", "text": "https://not.an/image"},
                    "junk",
                ],
            },
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://a.test/1.png"}}],
            },
            None,
        ]
    }
    assert remote_image_urls(body) == ["https://a.test/1.png", "HTTP://b.test/2.png"]
    assert remote_image_urls({"messages": "x"}) == []
    assert remote_image_urls([]) == []


def msgs(*messages: Any) -> dict[str, Any]:
    return {"messages": list(messages)}


def image(url: Any) -> dict[str, Any]:
    return msgs({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]})


BAD_CALL = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{nope"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body: expected a JSON object"),
        ({}, "messages: required"),
        ({"messages": []}, "messages: expected a non-empty list"),
        ({"messages": "hi"}, "messages: expected a non-empty list"),
        (msgs("hi"), "messages[0]: expected an object"),
        (msgs({"content": "x"}), "messages[0].role: expected one of"),
        (msgs({"role": "bot", "content": "x"}), "messages[0].role: expected one of"),
        (msgs({"role": "user", "content": 5}), "messages[0].content: expected a string or a list"),
        (msgs({"role": "user"}), "messages[0].content: expected a string or a list"),
        (msgs({"role": "system"}), "messages[0].content: required"),
        (
            msgs({"role": "system", "content": [{"type": "image_url"}]}),
            "messages[0].content[0]: expected a text part",
        ),
        (
            msgs({"role": "user", "content": [{"type": "text", "text": 1}]}),
            "messages[0].content[0].text: expected a string",
        ),
        (
            msgs({"role": "user", "content": [{"type": "video"}]}),
            "messages[0].content[0].type: unsupported content part type 'video'",
        ),
        (msgs(*USER, {"role": "tool", "content": "x"}), "messages[1].tool_call_id: required"),
        (
            msgs(*USER, {"role": "tool", "tool_call_id": "zz", "content": "x"}),
            "messages[1].tool_call_id: no earlier assistant tool call has the id 'zz'",
        ),
        (
            msgs(*USER, {"role": "assistant", "tool_calls": [BAD_CALL]}),
            "messages[1].tool_calls[0].function.arguments: not valid JSON",
        ),
        (
            msgs(
                *USER,
                {
                    "role": "assistant",
                    "tool_calls": [{**BAD_CALL, "function": {"name": "f", "arguments": "[1]"}}],
                },
            ),
            "messages[1].tool_calls[0].function.arguments: expected a JSON object",
        ),
        (
            msgs(
                *USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"type": "function", "function": {"name": "f"}}],
                },
            ),
            "messages[1].tool_calls[0].id: expected a non-empty string",
        ),
        (msgs(*USER, {"role": "function", "content": "x"}), "messages[1].name: expected"),
        (
            image("ftp://x/y.png"),
            "messages[0].content[0].image_url.url: expected a data: or http(s)",
        ),
        (
            image("https://x.test/missing.png"),
            "messages[0].content[0].image_url.url: could not fetch",
        ),
        (
            image("data:image/png;base64,@@@"),
            "messages[0].content[0].image_url.url: the data is not valid base64",
        ),
        (
            image("data:image/png;base64"),
            "messages[0].content[0].image_url.url: a data URL needs a comma",
        ),
        (image(None), "messages[0].content[0].image_url.url: expected a URL string"),
        (
            msgs(
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "opus"}}
                    ],
                }
            ),
            "messages[0].content[0].input_audio.format: expected one of",
        ),
        (
            msgs({"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}),
            "messages[0].content[0].file.file_id: file ids are not supported",
        ),
        ({**msgs(*USER), "temperature": "hot"}, "temperature: expected a number, got a string"),
        ({**msgs(*USER), "top_p": True}, "top_p: expected a number, got a boolean"),
        ({**msgs(*USER), "n": 0}, "n: must be at least 1"),
        ({**msgs(*USER), "n": 1.5}, "n: expected an integer"),
        ({**msgs(*USER), "max_tokens": "9"}, "max_tokens: expected an integer"),
        ({**msgs(*USER), "stream": "yes"}, "stream: expected a boolean"),
        ({**msgs(*USER), "stop": [1]}, "stop: expected a string or a list of strings"),
        ({**msgs(*USER), "stream_options": []}, "stream_options: expected an object"),
        ({**msgs(*USER), "response_format": {"type": "yaml"}}, "response_format.type: expected"),
        (
            {
                **msgs(*USER),
                "response_format": {"type": "json_schema", "json_schema": {"schema": []}},
            },
            "response_format.json_schema.schema: expected a JSON Schema object",
        ),
        ({**msgs(*USER), "reasoning_effort": "max"}, "reasoning_effort: expected one of"),
        ({**msgs(*USER), "tools": {}}, "tools: expected a list"),
        ({**msgs(*USER), "tools": [{"type": "web_search"}]}, "tools[0].type: only function tools"),
        (
            {**msgs(*USER), "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
        ),
        (
            {**msgs(*USER), "tools": [WEATHER], "tool_choice": "always"},
            "tool_choice: expected none",
        ),
        (
            {
                **msgs(*USER),
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "x"}},
            },
            "tool_choice.function.name: no tool is named 'x'",
        ),
        ({**msgs(*USER), "google": "x"}, "google: expected an object"),
        (
            {**msgs(*USER), "extra_body": {"google": {"thinking_config": 1}}},
            "extra_body.google.thinking_config",
        ),
        (
            {**msgs(*USER), "google": {"thinking_config": {"include_thoughts": "yes"}}},
            "google.thinking_config.include_thoughts: expected a boolean",
        ),
        ({**msgs(*USER), "google": {"cached_content": 5}}, "google.cached_content: expected"),
        (msgs({"role": "assistant", "content": None}), "messages: no message has any content"),
    ],
)
def test_bad_requests(body: Any, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        chat_request_to_gemini(body, upstream_model="gemini-2.5-flash")
    assert info.value.message.startswith(message)
