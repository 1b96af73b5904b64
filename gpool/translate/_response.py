"""A Gemini GenerateContentResponse as an OpenAI ChatCompletion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._candidates import (
    blocked_refusal,
    filtered_refusal,
    finish_reason,
    logprobs,
    read_parts,
    usage,
)
from ._errors import EmptyAnswer
from ._util import JSON, is_int, pick

__all__ = ["chat_response_from_gemini", "completion_id"]


def completion_id(resp: Any, id_factory: Callable[[], str]) -> str:
    rid = pick(resp, "responseId")
    return "chatcmpl-" + (rid if isinstance(rid, str) and rid else id_factory())


def _choice(
    candidate: Any,
    position: int,
    include_thoughts: bool,
    id_factory: Callable[[], str],
    parallel_tool_calls: bool,
) -> JSON:
    parts = read_parts(candidate, id_factory)
    if not parallel_tool_calls:
        del parts.tool_calls[1:]
    gemini = pick(candidate, "finishReason")
    reason = finish_reason(gemini, tool_calls=bool(parts.tool_calls), output=parts.output)
    message: JSON = {"role": "assistant", "content": parts.text or None, "refusal": None}
    if reason == "content_filter" and not parts.text:
        message["refusal"] = filtered_refusal(gemini)
    if include_thoughts and parts.thoughts:
        message["reasoning_content"] = parts.thoughts
    if parts.tool_calls:
        message["tool_calls"] = parts.tool_calls
    index = pick(candidate, "index")
    return {
        "index": index if is_int(index) else position,
        "message": message,
        "logprobs": logprobs(candidate),
        "finish_reason": reason,
    }


def chat_response_from_gemini(
    resp: Any,
    *,
    model: str,
    created: int,
    include_thoughts: bool,
    id_factory: Callable[[], str],
    parallel_tool_calls: bool = True,
) -> JSON:
    """One choice per candidate; a blocked prompt is a refusal; nothing usable is EmptyAnswer.

    ``id_factory`` names what Gemini left unnamed: the completion (as ``chatcmpl-<id>``)
    when there is no responseId, and tool calls that carry no id of their own.
    """
    candidates = pick(resp, "candidates")
    if isinstance(candidates, list) and candidates:
        choices = [
            _choice(c, i, include_thoughts, id_factory, parallel_tool_calls)
            for i, c in enumerate(candidates)
        ]
        choices.sort(key=lambda choice: choice["index"])
    else:
        reason = pick(pick(resp, "promptFeedback"), "blockReason")
        if not reason:
            raise EmptyAnswer("Gemini answered with no candidates")
        message = {"role": "assistant", "content": None, "refusal": blocked_refusal(reason)}
        choices = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"}
        ]
    return {
        "id": completion_id(resp, id_factory),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage(pick(resp, "usageMetadata")),
    }
