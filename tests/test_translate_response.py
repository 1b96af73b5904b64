"""Gemini GenerateContentResponse -> OpenAI ChatCompletion: finish reasons, parts, usage."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from gpool.translate import EmptyAnswer, chat_response_from_gemini


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


def translate(resp: dict[str, Any], *, include_thoughts: bool = False) -> dict[str, Any]:
    return chat_response_from_gemini(
        resp, model="my-model", created=123, include_thoughts=include_thoughts, id_factory=ids()
    )


def answer(*parts: dict[str, Any], finish: str | None = "STOP", **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if parts:
        candidate["content"] = {"role": "model", "parts": list(parts)}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "r1", **extra}


TEXT = {"text": "hello"}
CALL = {"functionCall": {"name": "f", "args": {"a": 1}}}


@pytest.mark.parametrize(
    ("parts", "finish", "reason"),
    [
        ([TEXT], "STOP", "stop"),
        ([TEXT], "MAX_TOKENS", "length"),
        ([], "MAX_TOKENS", "length"),
        ([TEXT, CALL], "STOP", "tool_calls"),
        ([CALL], "MAX_TOKENS", "tool_calls"),
        ([TEXT], "SAFETY", "content_filter"),
        ([], "SAFETY", "content_filter"),
        ([], "RECITATION", "content_filter"),
        ([], "BLOCKLIST", "content_filter"),
        ([], "PROHIBITED_CONTENT", "content_filter"),
        ([], "SPII", "content_filter"),
        ([], "IMAGE_SAFETY", "content_filter"),
        ([TEXT], "OTHER", "stop"),
        ([TEXT], "FINISH_REASON_UNSPECIFIED", "stop"),
        ([TEXT], "SOMETHING_NEW", "stop"),
        ([TEXT], None, "stop"),
        ([{"inlineData": {"mimeType": "image/png", "data": "AA=="}}], "STOP", "stop"),
    ],
)
def test_finish_reason(parts: list[dict[str, Any]], finish: str, reason: str) -> None:
    assert translate(answer(*parts, finish=finish))["choices"][0]["finish_reason"] == reason


@pytest.mark.parametrize(
    ("resp", "message"),
    [
        ({}, "Gemini answered with no candidates"),
        ({"candidates": [], "promptFeedback": {}}, "Gemini answered with no candidates"),
        (answer(), "Gemini finished (STOP) without any content"),
        (answer({"text": ""}), "Gemini finished (STOP) without any content"),
        (answer({"text": "hmm", "thought": True}), "Gemini finished (STOP) without any content"),
        (answer(finish="OTHER"), "Gemini finished (OTHER) without any content"),
        (answer(finish=None), "Gemini finished (no finishReason) without any content"),
        (
            answer(TEXT, finish="MALFORMED_FUNCTION_CALL"),
            "the model produced a malformed function call",
        ),
    ],
)
def test_empty_answers(resp: dict[str, Any], message: str) -> None:
    with pytest.raises(EmptyAnswer) as info:
        translate(resp)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("include", "expected"),
    [(True, {"reasoning_content": "think"}), (False, {})],
)
def test_thoughts_only_when_asked(include: bool, expected: dict[str, Any]) -> None:
    resp = answer({"text": "think", "thought": True}, TEXT)
    message = translate(resp, include_thoughts=include)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "hello", "refusal": None, **expected}


def test_tool_calls_ids_arguments_and_signatures() -> None:
    resp = answer(
        {"functionCall": {"name": "a", "args": {"q": "ü", "n": [1, 2]}}, "thoughtSignature": "sig"},
        {"functionCall": {"id": "g1", "name": "b"}},
        {"function_call": {"name": "c", "args": {}}},
    )
    calls = translate(resp)["choices"][0]["message"]["tool_calls"]
    assert calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "a", "arguments": '{"q":"ü","n":[1,2]}'},
            "extra_content": {"google": {"thought_signature": "sig"}},
        },
        {"id": "g1", "type": "function", "function": {"name": "b", "arguments": "{}"}},
        {"id": "call_2", "type": "function", "function": {"name": "c", "arguments": "{}"}},
    ]


def test_envelope_and_usage() -> None:
    usage = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 7,
        "cachedContentTokenCount": 4,
    }
    out = translate(answer(TEXT, usageMetadata=usage))
    assert {k: out[k] for k in ("id", "object", "created", "model")} == {
        "id": "chatcmpl-r1",
        "object": "chat.completion",
        "created": 123,
        "model": "my-model",
    }
    assert out["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 10,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 7},
    }
    no_id = translate({"candidates": [{"content": {"parts": [TEXT]}, "finishReason": "STOP"}]})
    assert no_id["id"] == "chatcmpl-call_1"
    assert no_id["usage"]["total_tokens"] == 0


@pytest.mark.parametrize(
    ("indexes", "expected"),
    [((1, 0), [(0, "b"), (1, "a")]), ((None, None), [(0, "a"), (1, "b")])],
)
def test_candidates_keep_their_index(indexes: tuple[Any, Any], expected: list[Any]) -> None:
    candidates = [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"} for text in "ab"]
    for candidate, index in zip(candidates, indexes, strict=True):
        if index is not None:
            candidate["index"] = index
    choices = translate({"candidates": candidates})["choices"]
    assert [(c["index"], c["message"]["content"]) for c in choices] == expected


@pytest.mark.parametrize("reason", ["SAFETY", "OTHER", "PROHIBITED_CONTENT"])
def test_blocked_prompt_is_a_refusal(reason: str) -> None:
    out = translate({"promptFeedback": {"blockReason": reason}, "responseId": "b"})
    assert out["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": f"{reason}: the prompt was blocked by Gemini's safety filters",
            },
            "logprobs": None,
            "finish_reason": "content_filter",
        }
    ]
