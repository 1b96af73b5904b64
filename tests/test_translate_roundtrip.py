"""A three-turn tool conversation: the thought signature survives the trip through OpenAI."""

from __future__ import annotations

import json
from typing import Any

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
