"""Gemini stream events as OpenAI ``chat.completion.chunk`` objects, one event at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ._candidates import (
    blocked_refusal,
    filtered_refusal,
    finish_reason,
    logprobs,
    read_parts,
    usage,
)
from ._errors import EmptyAnswer, UpstreamStreamError
from ._response import completion_id
from ._util import JSON, is_int, pick

__all__ = ["ChatStreamTranslator"]


@attrs.define
class _Choice:
    role_sent: bool = False
    calls: int = 0  # tool calls sent so far: the next call's index
    output: bool = False
    finished: bool = False


class ChatStreamTranslator:
    """Feed parsed Gemini events, get chunks; ``finish()`` at the upstream's clean end.

    Gemini sends each function call whole, so each becomes one delta with its full
    arguments. A stream that ends before every choice has a finishReason was cut:
    ``finish()`` raises ``EmptyAnswer`` rather than let it pass for a clean stop.
    """

    def __init__(
        self,
        *,
        model: str,
        created: int,
        include_thoughts: bool,
        include_usage: bool,
        id_factory: Callable[[], str],
        parallel_tool_calls: bool = True,
    ) -> None:
        self._model = model
        self._created = created
        self._include_thoughts = include_thoughts
        self._include_usage = include_usage
        self._id_factory = id_factory
        self._max_calls = None if parallel_tool_calls else 1
        self._id: str | None = None
        self._choices: dict[int, _Choice] = {}
        self._blocked = False
        self._usage: Any = None

    @property
    def total_tokens(self) -> int | None:
        """The total token count of the latest usageMetadata (final once the stream ends)."""
        total = pick(self._usage, "totalTokenCount")
        return total if is_int(total) else None

    @property
    def finished(self) -> bool:
        """A finishReason (or a prompt block) has been seen for every choice."""
        if self._blocked:
            return True
        return bool(self._choices) and all(c.finished for c in self._choices.values())

    def _choice(self, index: int) -> _Choice:
        choice = self._choices.get(index)
        if choice is None:  # (setdefault would build a _Choice on every call)
            choice = self._choices[index] = _Choice()
        return choice

    def _chunk(
        self,
        index: int,
        delta: JSON,
        finish: str | None = None,
        probs: JSON | None = None,
    ) -> JSON:
        choice = self._choice(index)
        if not choice.role_sent:
            delta = {"role": "assistant", **delta}
            choice.role_sent = True
        chunk: JSON = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [
                {"index": index, "delta": delta, "logprobs": probs, "finish_reason": finish}
            ],
        }
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI does: only the last chunk carries usage
        return chunk

    def _candidate(self, candidate: Any, position: int) -> list[JSON]:
        index = pick(candidate, "index")
        index = index if is_int(index) else position
        choice = self._choice(index)
        if choice.finished:
            return []
        parts = read_parts(candidate, self._id_factory)
        choice.output = choice.output or parts.output
        chunks = []
        delta: JSON = {}
        if self._include_thoughts and parts.thoughts:
            delta["reasoning_content"] = parts.thoughts
        if parts.text:
            delta["content"] = parts.text
        probs = logprobs(candidate)
        if delta or probs is not None:
            chunks.append(self._chunk(index, delta, probs=probs))
        for call in parts.tool_calls:
            if self._max_calls is not None and choice.calls >= self._max_calls:
                break
            chunks.append(self._chunk(index, {"tool_calls": [{"index": choice.calls, **call}]}))
            choice.calls += 1
        gemini = pick(candidate, "finishReason")
        if gemini:
            reason = finish_reason(gemini, tool_calls=choice.calls > 0, output=choice.output)
            delta = {}
            if reason == "content_filter" and not choice.output:
                delta["refusal"] = filtered_refusal(gemini)
            chunks.append(self._chunk(index, delta, reason))
            choice.finished = True
        return chunks

    def feed(self, event: Any) -> list[JSON]:
        """One parsed event -> chunks; raises UpstreamStreamError for Google's error event."""
        if not isinstance(event, dict):
            raise EmptyAnswer("Gemini sent a stream event that is not a JSON object")
        error = event.get("error")
        if error is not None:
            message, code, status = (
                pick(error, "message"),
                pick(error, "code"),
                pick(error, "status"),
            )
            raise UpstreamStreamError(
                message if isinstance(message, str) else "the upstream reported an error",
                code if is_int(code) else None,
                status if isinstance(status, str) else None,
            )
        if self._id is None:
            self._id = completion_id(event, self._id_factory)
        if (meta := pick(event, "usageMetadata")) is not None:
            self._usage = meta  # running totals; the last event's are final
        candidates = pick(event, "candidates")
        if isinstance(candidates, list) and candidates:
            return [c for i, cand in enumerate(candidates) for c in self._candidate(cand, i)]
        reason = pick(pick(event, "promptFeedback"), "blockReason")
        if not reason or self._blocked:
            return []
        self._blocked = True
        return [self._chunk(0, {"refusal": blocked_refusal(reason)}, "content_filter")]

    def finish(self) -> list[JSON]:
        """The usage chunk if asked for; EmptyAnswer if the stream never finished."""
        if not self.finished:
            raise EmptyAnswer("the upstream stream ended before the answer was finished")
        if not self._include_usage:
            return []
        return [
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [],
                "usage": usage(self._usage),
            }
        ]
