"""ChatStreamTranslator fed with realistic Gemini event sequences."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gpool.fake.catalog import CATALOG
from gpool.fake.generate import stream_events
from gpool.fake.plan import plan_generate
from gpool.translate import (
    ChatStreamTranslator,
    EmptyAnswer,
    UpstreamStreamError,
    chat_request_to_gemini,
)


def translator(*, thoughts: bool = False, usage: bool = False) -> ChatStreamTranslator:
    counter = itertools.count(1)
    return ChatStreamTranslator(
        model="m",
        created=5,
        include_thoughts=thoughts,
        include_usage=usage,
        id_factory=lambda: f"call_{next(counter)}",
    )


def event(
    *parts: dict[str, Any], finish: str | None = None, index: int = 0, **extra: Any
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": index}
    if parts:
        candidate["content"] = {"role": "model", "parts": list(parts)}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "rid", **extra}


def run(t: ChatStreamTranslator, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chunks = [c for e in events for c in t.feed(e)]
    return chunks + t.finish()


def deltas(chunks: list[dict[str, Any]], index: int = 0) -> list[tuple[dict[str, Any], Any]]:
    return [
        (choice["delta"], choice["finish_reason"])
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["index"] == index
    ]


def test_text_in_three_events() -> None:
    events = [event({"text": "a"}), event({"text": "b"}), event({"text": "c"}, finish="STOP")]
    t = translator()
    chunks = run(t, events)
    assert t.finished
    assert {c["id"] for c in chunks} == {"chatcmpl-rid"}
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert deltas(chunks) == [
        ({"role": "assistant", "content": "a"}, None),
        ({"content": "b"}, None),
        ({"content": "c"}, None),
        ({}, "stop"),
    ]


@pytest.mark.parametrize(
    ("thoughts", "expected"),
    [
        (
            True,
            [
                ({"role": "assistant", "reasoning_content": "plan"}, None),
                ({"content": "answer"}, None),
                ({}, "stop"),
            ],
        ),
        (False, [({"role": "assistant", "content": "answer"}, None), ({}, "stop")]),
    ],
)
def test_thoughts_come_first(thoughts: bool, expected: list[Any]) -> None:
    events = [event({"text": "plan", "thought": True}), event({"text": "answer"}, finish="STOP")]
    assert deltas(run(translator(thoughts=thoughts), events)) == expected


def test_parallel_calls_signed_on_the_first_only() -> None:
    first = {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "SIG"}
    second = {"functionCall": {"name": "g", "args": {}}}
    third = {"functionCall": {"id": "own", "name": "h", "args": {"y": "é"}}}
    chunks = run(translator(), [event(first, second), event(third, finish="STOP")])
    assert deltas(chunks) == [
        (
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"x":1}'},
                        "extra_content": {"google": {"thought_signature": "SIG"}},
                    }
                ],
            },
            None,
        ),
        (
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "g", "arguments": "{}"},
                    }
                ]
            },
            None,
        ),
        (
            {
                "tool_calls": [
                    {
                        "index": 2,
                        "id": "own",
                        "type": "function",
                        "function": {"name": "h", "arguments": '{"y":"é"}'},
                    }
                ]
            },
            None,
        ),
        ({}, "tool_calls"),
    ]


def test_two_candidates_interleaved() -> None:
    def both(a: str, b: str, finish: str | None = None) -> dict[str, Any]:
        cands = [
            {
                "index": i,
                "content": {"parts": [{"text": s}]},
                **({"finishReason": finish} if finish else {}),
            }
            for i, s in enumerate((a, b))
        ]
        return {"candidates": cands, "responseId": "rid"}

    t = translator()
    chunks = run(t, [both("a1", "b1"), both("a2", "b2", "STOP")])
    assert deltas(chunks, 0) == [
        ({"role": "assistant", "content": "a1"}, None),
        ({"content": "a2"}, None),
        ({}, "stop"),
    ]
    assert deltas(chunks, 1) == [
        ({"role": "assistant", "content": "b1"}, None),
        ({"content": "b2"}, None),
        ({}, "stop"),
    ]


def test_one_candidate_finished_is_not_the_end() -> None:
    t = translator()
    t.feed(
        {
            "candidates": [
                {"index": 0, "content": {"parts": [{"text": "a"}]}},
                {"index": 1, "content": {"parts": [{"text": "b"}]}},
            ]
        }
    )
    t.feed(event({"text": "!"}, finish="STOP", index=0))
    assert not t.finished
    with pytest.raises(EmptyAnswer):
        t.finish()


def test_blocked_prompt() -> None:
    t = translator(usage=True)
    blocked = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
        "responseId": "rid",
    }
    chunks = run(t, [blocked])
    assert t.finished
    assert deltas(chunks) == [
        (
            {
                "role": "assistant",
                "refusal": "PROHIBITED_CONTENT: the prompt was blocked by Gemini's safety filters",
            },
            "content_filter",
        )
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 3


def test_filter_after_some_text() -> None:
    chunks = run(translator(), [event({"text": "par"}), event(finish="SAFETY")])
    assert deltas(chunks) == [
        ({"role": "assistant", "content": "par"}, None),
        ({}, "content_filter"),
    ]


def test_filter_with_nothing_said_is_a_refusal() -> None:
    chunks = run(translator(), [event(finish="RECITATION")])
    assert deltas(chunks) == [
        (
            {
                "role": "assistant",
                "refusal": "RECITATION: the answer was stopped by Gemini's content filters",
            },
            "content_filter",
        )
    ]


@pytest.mark.parametrize(
    "events",
    [
        [],
        [event({"text": "a"})],
        [event({"text": "a"}), event({"text": "b"})],
        [{"usageMetadata": {"promptTokenCount": 1}}],
    ],
)
def test_cut_stream_is_not_a_clean_stop(events: list[dict[str, Any]]) -> None:
    t = translator(usage=True)
    for e in events:
        t.feed(e)
    assert not t.finished
    with pytest.raises(EmptyAnswer, match="ended before the answer was finished"):
        t.finish()


@pytest.mark.parametrize(
    "events",
    [
        [event(finish="STOP")],
        [event({"text": "x", "thought": True}), event(finish="STOP")],
        [event({"text": "x"}), event(finish="MALFORMED_FUNCTION_CALL")],
    ],
)
def test_unusable_endings_raise(events: list[dict[str, Any]]) -> None:
    t = translator()
    with pytest.raises(EmptyAnswer):
        for e in events:
            t.feed(e)


def test_error_event() -> None:
    t = translator()
    t.feed(event({"text": "a"}))
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(UpstreamStreamError) as info:
        t.feed(error)
    assert (info.value.message, info.value.code, info.value.status) == (
        "The model is overloaded.",
        503,
        "UNAVAILABLE",
    )


def test_usage_rides_every_chunk_and_comes_last() -> None:
    def meta(n: int) -> dict[str, Any]:
        return {"promptTokenCount": 4, "candidatesTokenCount": n, "totalTokenCount": 4 + n}

    events = [
        event({"text": "a"}, usageMetadata=meta(1)),
        event({"text": "b"}, finish="STOP", usageMetadata=meta(2)),
        {"usageMetadata": meta(3), "responseId": "rid"},  # a late usage-only event
    ]
    chunks = run(translator(usage=True), events)
    assert [c["usage"] for c in chunks[:-1]] == [None, None, None]
    assert chunks[-1] == {
        "id": "chatcmpl-rid",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": 4,
            "completion_tokens": 3,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def test_missing_response_id_uses_the_factory_once() -> None:
    chunks = run(
        translator(),
        [
            {"candidates": [{"content": {"parts": [{"text": "a"}]}}]},
            {"candidates": [{"finishReason": "STOP"}]},
        ],
    )
    assert {c["id"] for c in chunks} == {"chatcmpl-call_1"}


@pytest.mark.parametrize(
    ("model", "prompt", "extra", "finish"),
    [
        ("gemini-2.5-flash", "hello [chunks=4]", {}, "stop"),
        ("gemini-2.5-flash", "hi [candidates=2]", {}, "stop"),
        ("gemini-3-pro-preview", "weather [parallel=3]", {"tools": "weather"}, "tool_calls"),
        ("gemini-2.5-flash", "hi [finish=MAX_TOKENS]", {}, "length"),
        ("gemini-2.5-flash", "hi [finish=SAFETY] [chunks=4]", {}, "content_filter"),
        (
            "gemini-2.5-pro",
            "hi",
            {"reasoning_effort": "none", "google": {"thinking_config": {"include_thoughts": True}}},
            "stop",
        ),
    ],
)
def test_against_the_fake_upstreams_events(
    model: str, prompt: str, extra: dict[str, Any], finish: str
) -> None:
    """The fake builds its events as Google does; the chunks must add up to its answer."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}], **extra}
    if extra.get("tools"):
        params = {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }
        body["tools"] = [
            {"type": "function", "function": {"name": "weather", "parameters": params}}
        ]
    plan = chat_request_to_gemini(body, upstream_model=model)
    events = stream_events(plan_generate(plan.body, CATALOG[model]), "fake-rid")
    t = translator(thoughts=plan.include_thoughts, usage=True)
    chunks = run(t, events)
    choices = {c["index"] for chunk in chunks for c in chunk["choices"]}
    for index in choices:
        seen = deltas(chunks, index)
        assert seen[0][0]["role"] == "assistant"
        assert [d.get("role") for d, _ in seen[1:]] == [None] * (len(seen) - 1)
        assert seen[-1][1] == finish
        assert [f for _, f in seen[:-1]] == [None] * (len(seen) - 1)
    if finish == "tool_calls":
        calls = [d["tool_calls"][0] for d, _ in deltas(chunks) if "tool_calls" in d]
        assert [c["index"] for c in calls] == [0, 1, 2]
        assert "extra_content" in calls[0] and all("extra_content" not in c for c in calls[1:])
    if plan.include_thoughts:
        assert "reasoning_content" in deltas(chunks)[0][0]
    assert chunks[-1]["usage"]["total_tokens"] == events[-1]["usageMetadata"]["totalTokenCount"]


@pytest.mark.parametrize(
    "event",
    [b"data: [1]\r\n\r\n", b"data: " + b"[" * 100_000 + b"\r\n\r\n", b"data: {oops\r\n\r\n"],
)
def test_an_event_that_is_no_object_ends_the_stream_as_incomplete(event: bytes) -> None:
    """The relay then sends the error event: the stream never just stops."""
    from gpool.streams import OpenAIChatStream, StreamIncomplete

    stream = OpenAIChatStream(translator())
    with pytest.raises(StreamIncomplete):
        list(stream.feed(event))
