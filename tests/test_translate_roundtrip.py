"""A three-turn tool conversation: the thought signature survives the trip through OpenAI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gpool.translate import chat_request_to_gemini, chat_response_from_gemini

MODEL = "gemini-3-pro-preview"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time"}},
]
GEMINI_ANSWER: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "U0lHTkFUVVJF",
                    },
                    {"functionCall": {"name": "get_time", "args": {}}},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "responseId": "turn1",
}


def test_signature_and_names_survive_the_round_trip() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Paris?"}]
    first = chat_request_to_gemini({"messages": messages, "tools": TOOLS}, upstream_model=MODEL)
    assert first.body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]}
    ]

    ids = iter(["call_w", "call_t"])
    completion = chat_response_from_gemini(
        GEMINI_ANSWER,
        model="my-gemini",
        created=1,
        include_thoughts=False,
        id_factory=lambda: next(ids),
    )
    assistant = completion["choices"][0]["message"]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    # What an OpenAI client keeps: the message as it came, sent back as JSON.
    messages.append(json.loads(json.dumps(assistant)))
    messages.append({"role": "tool", "tool_call_id": "call_t", "content": "12:00"})
    messages.append({"role": "tool", "tool_call_id": "call_w", "content": '{"temp": 21}'})

    second = chat_request_to_gemini({"messages": messages, "tools": TOOLS}, upstream_model=MODEL)
    contents = second.body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == GEMINI_ANSWER["candidates"][0]["content"]["parts"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "U0lHTkFUVVJF"
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_time", "response": {"content": "12:00"}}},
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
    ]
    assert second.tool_names == {"call_w": "get_weather", "call_t": "get_time"}


@pytest.mark.parametrize(
    ("model", "signed"),
    [("gemini-3-pro-preview", "skip_thought_signature_validator"), ("gemini-2.5-flash", None)],
)
def test_unsigned_gemini3_call_gets_googles_stand_in(model: str, signed: str | None) -> None:
    """A client that dropped extra_content (LangChain does) must not break Gemini 3 tools."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    second = {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call, second]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            {"role": "tool", "tool_call_id": "c2", "content": "2"},
        ]
    }
    parts = chat_request_to_gemini(body, upstream_model=model).body["contents"][1]["parts"]
    assert parts[0].get("thoughtSignature") == signed
    assert "thoughtSignature" not in parts[1]  # only the first call of a turn is signed


def test_a_real_signature_is_kept() -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
        "extra_content": {"google": {"thought_signature": "real-sig"}},
    }
    body = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
        ]
    }
    parts = chat_request_to_gemini(body, upstream_model="gemini-3-flash-preview").body["contents"][
        1
    ]["parts"]
    assert parts[0]["thoughtSignature"] == "real-sig"
