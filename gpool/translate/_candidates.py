"""Reading Gemini candidates the OpenAI way: parts, finish reasons, usage and logprobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._errors import EmptyAnswer
from ._util import JSON, compact, is_int, pick

__all__ = [
    "Parts",
    "blocked_refusal",
    "filtered_refusal",
    "finish_reason",
    "logprobs",
    "read_parts",
    "usage",
]

# Finish reasons that mean a filter stopped the answer.
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


@attrs.define
class Parts:
    """One candidate's parts (or one event's share of them), sorted for OpenAI."""

    text: str = ""
    thoughts: str = ""
    tool_calls: list[JSON] = attrs.Factory(list)
    output: bool = False  # anything besides thoughts, even a part OpenAI cannot show


def _fence(texts: list[str], language: Any, body: Any) -> str:
    """A Markdown code block, on lines of its own."""
    lang = language.lower() if isinstance(language, str) else ""
    body = body.rstrip("\n") if isinstance(body, str) else ""
    before = "\n" if texts and not texts[-1].endswith("\n") else ""
    return f"{before}```{lang}\n{body}\n```\n"


def _tool_call(part: Mapping[str, Any], call: Any, id_factory: Callable[[], str]) -> JSON:
    call_id = pick(call, "id")
    name = pick(call, "name")
    args = pick(call, "args")
    tool_call: JSON = {
        "id": call_id if isinstance(call_id, str) and call_id else id_factory(),
        "type": "function",
        "function": {
            "name": name if isinstance(name, str) else "",
            "arguments": compact(args if args is not None else {}),
        },
    }
    signature = pick(part, "thoughtSignature")
    if isinstance(signature, str) and signature:
        # Where Google's own OpenAI endpoint puts it; the client sends it back the same way.
        tool_call["extra_content"] = {"google": {"thought_signature": signature}}
    return tool_call


def read_parts(candidate: Any, id_factory: Callable[[], str]) -> Parts:
    """Text, thought summaries and function calls; code runs become fenced text.

    ``inlineData`` (images, audio) has no place in a chat message and is skipped, though
    it still counts as output. Thought signatures on text parts are dropped: OpenAI's
    message has nowhere to carry them.
    """
    out = Parts()
    parts = pick(pick(candidate, "content"), "parts")
    texts: list[str] = []
    thoughts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            if part.get("thought") is True:
                thoughts.append(text)
            elif text:
                texts.append(text)
                out.output = True
            continue
        if (call := pick(part, "functionCall")) is not None:
            out.tool_calls.append(_tool_call(part, call, id_factory))
        elif (code := pick(part, "executableCode")) is not None:
            texts.append(_fence(texts, pick(code, "language"), pick(code, "code")))
        elif (result := pick(part, "codeExecutionResult")) is not None:
            texts.append(_fence(texts, "output", pick(result, "output")))
        elif pick(part, "inlineData") is None and pick(part, "fileData") is None:
            continue
        out.output = True
    out.text = "".join(texts)
    out.thoughts = "".join(thoughts)
    return out


def finish_reason(gemini: Any, *, tool_calls: bool, output: bool) -> str:
    """OpenAI's finish_reason, or EmptyAnswer when nothing usable came and none fits."""
    if gemini == "MALFORMED_FUNCTION_CALL":
        raise EmptyAnswer("the model produced a malformed function call")
    if tool_calls:
        return "tool_calls"
    if gemini == "MAX_TOKENS":
        return "length"
    if gemini in _FILTERED:
        return "content_filter"
    if not output:
        # STOP, OTHER or anything newer with nothing to show: "stop" would be a lie.
        raise EmptyAnswer(f"Gemini finished ({gemini or 'no finishReason'}) without any content")
    return "stop"


def blocked_refusal(reason: Any) -> str:
    return f"{reason}: the prompt was blocked by Gemini's safety filters"


def filtered_refusal(reason: Any) -> str:
    return f"{reason}: the answer was stopped by Gemini's content filters"


def _count(meta: Any, key: str) -> int:
    value = pick(meta, key)
    return value if is_int(value) else 0


def usage(meta: Any) -> JSON:
    """OpenAI usage from usageMetadata; thinking counts as completion, as with OpenAI's o-series."""
    prompt = _count(meta, "promptTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount")
    completion = _count(meta, "candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(meta, "totalTokenCount") or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(meta, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _logprob(entry: Any) -> JSON:
    token = pick(entry, "token")
    token = token if isinstance(token, str) else ""
    value = pick(entry, "logProbability")
    return {
        "token": token,
        "logprob": value if isinstance(value, int | float) else 0.0,
        "bytes": list(token.encode()),
    }


def logprobs(candidate: Any) -> JSON | None:
    """``logprobsResult`` as OpenAI's ``logprobs.content``; None when Gemini sent none."""
    result = pick(candidate, "logprobsResult")
    chosen = pick(result, "chosenCandidates")
    if not isinstance(chosen, list):
        return None
    top = pick(result, "topCandidates")
    top = top if isinstance(top, list) else []
    content = []
    for k, entry in enumerate(chosen):
        alternatives = pick(top[k], "candidates") if k < len(top) else None
        alternatives = alternatives if isinstance(alternatives, list) else []
        content.append({**_logprob(entry), "top_logprobs": [_logprob(a) for a in alternatives]})
    return {"content": content, "refusal": None}
