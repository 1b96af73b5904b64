"""Deterministic answers from a Plan: the unary response and the partial stream events."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .plan import Plan
from .reading import pick, sample_value, tokens

__all__ = ["blocked_response", "stream_events", "unary_response"]

_FILLER = (
    " Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"
    " incididunt ut labore et dolore magna aliqua."
)
_AUDIO = {
    "mimeType": "audio/L16;codec=pcm;rate=24000",
    "data": base64.b64encode(bytes(480)).decode(),  # 10 ms of silence
}
_IMAGE = {  # a 1x1 transparent PNG
    "mimeType": "image/png",
    "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg==",
}
_CATEGORIES = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
SAFETY_RATINGS: list[dict[str, Any]] = [
    {"category": c, "probability": "NEGLIGIBLE"} for c in _CATEGORIES[:-1]
] + [{"category": _CATEGORIES[-1], "probability": "HIGH", "blocked": True}]


def signature(model_id: str, salt: str) -> str:
    """An opaque, deterministic stand-in for a thought signature."""
    digest = hashlib.sha256(f"{model_id}|{salt}".encode()).digest()
    return base64.b64encode(b"\x12\x40fake-thought-signature" + digest + digest[::-1]).decode()


def _thought_text(plan: Plan) -> str:
    return (
        f'**Reading the request**\n\nThe user wrote "{plan.prompt[:60]}". '
        "Echoing it back answers it best."
    )


def _thought_tokens(plan: Plan) -> int:
    if not plan.thinking:
        return 0
    spent = 24 + 2 * min(plan.prompt_tokens, 512)
    return min(spent, plan.thinking_budget) if plan.thinking_budget else spent


def _answer_text(plan: Plan, index: int) -> str:
    if plan.results is not None:
        text = "Result received: " + "; ".join(
            json.dumps(r, ensure_ascii=False) for r in plan.results
        )
    else:
        text = f"Echo: {plan.prompt}" if plan.prompt else "Echo: (no text)"
    if index:
        text = f"Candidate {index}: {text}"
    if plan.json_mode:
        if plan.schema is not None:
            return json.dumps(sample_value(plan.schema, all_properties=True), ensure_ascii=False)
        return json.dumps({"echo": text}, ensure_ascii=False)
    return text


def _texts(plan: Plan) -> tuple[list[str], str]:
    """Each candidate's text (long enough to split) and the finishReason."""
    finish = plan.finish
    texts = []
    for i in range(plan.candidates):
        text = _answer_text(plan, i)
        while len(text) < plan.chunks:
            text += _FILLER
        if finish == "MAX_TOKENS":
            text = text[: max(1, len(text) // 2)]
        elif plan.max_output_tokens is not None and tokens(len(text)) > plan.max_output_tokens:
            text = text[: plan.max_output_tokens * 4]
            finish = "MAX_TOKENS" if finish == "STOP" else finish
        texts.append(text)
    return texts, finish


def _split(text: str, n: int) -> list[str]:
    size = len(text)
    return [text[size * k // n : size * (k + 1) // n] for k in range(n)]


def _calls(plan: Plan) -> tuple[list[dict[str, Any]], int]:
    parts: list[dict[str, Any]] = []
    chars = 0
    for k, decl in enumerate(plan.calls):
        params = pick(decl, "parameters") or pick(decl, "parametersJsonSchema")
        call = {"name": decl["name"], "args": sample_value(params, all_properties=False)}
        part: dict[str, Any] = {"functionCall": call}
        if k == 0 and plan.thinking:  # with parallel calls only the first is signed
            part["thoughtSignature"] = signature(
                plan.model.id, f"call|{decl['name']}|{plan.prompt}"
            )
        parts.append(part)
        chars += len(json.dumps(call))
    return parts, tokens(chars)


def _usage(plan: Plan, candidate_tokens: int, thoughts: int) -> dict[str, Any]:
    # proto3 JSON leaves zero counts out, and so does Google.
    usage: dict[str, Any] = {}
    if plan.prompt_tokens:
        usage["promptTokenCount"] = plan.prompt_tokens
    if candidate_tokens:
        usage["candidatesTokenCount"] = candidate_tokens
    usage["totalTokenCount"] = plan.prompt_tokens + candidate_tokens + thoughts
    usage["promptTokensDetails"] = plan.prompt_details
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _response(
    plan: Plan, candidates: list[dict[str, Any]], usage: dict[str, Any], rid: str
) -> dict[str, Any]:
    return {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": plan.model.id,
        "responseId": rid,
    }


def _candidate(parts: list[dict[str, Any]], index: int, finish: str | None) -> dict[str, Any]:
    cand: dict[str, Any] = {}
    if parts:
        cand["content"] = {"parts": parts, "role": "model"}
    if finish is not None:
        cand["finishReason"] = finish
        if finish == "SAFETY":
            cand["safetyRatings"] = SAFETY_RATINGS
    cand["index"] = index
    return cand


def _segments(plan: Plan) -> tuple[list[list[list[dict[str, Any]]]], list[int], str]:
    """Per candidate, the parts of each content-bearing event; running tokens; finishReason."""
    if plan.calls:
        parts, used = _calls(plan)
        return [[parts] for _ in range(plan.candidates)], [used * plan.candidates], "STOP"
    if plan.model.kind == "tts":
        audio = [[[{"inlineData": _AUDIO}]] for _ in range(plan.candidates)]
        return audio, [25 * plan.candidates], plan.finish
    texts, finish = _texts(plan)
    n = min(plan.chunks, *(len(t) for t in texts))
    pieces = [_split(t, n) for t in texts]
    running: list[int] = []
    total = 0
    for k in range(n):
        total += sum(len(p[k]) for p in pieces)
        running.append(tokens(total))
    segments: list[list[list[dict[str, Any]]]] = []
    for i, chunks in enumerate(pieces):
        seg: list[list[dict[str, Any]]] = [[{"text": c}] for c in chunks]
        if plan.model.gemini3 and plan.thinking:
            seg[-1][0]["thoughtSignature"] = signature(plan.model.id, f"text|{i}|{plan.prompt}")
        if "IMAGE" in plan.modalities:
            seg[-1].append({"inlineData": _IMAGE})
        segments.append(seg)
    if finish not in ("STOP", "MAX_TOKENS"):
        # A blocked answer stops early and its last event carries no content.
        keep = n // 2
        segments = [[*seg[:keep], []] for seg in segments]
        running = [*running[:keep], running[keep - 1] if keep else 0]
    return segments, running, finish


def blocked_response(plan: Plan, rid: str) -> dict[str, Any]:
    """A prompt blocked before generation: no candidates, only promptFeedback."""
    feedback: dict[str, Any] = {"blockReason": plan.block}
    if plan.block == "SAFETY":
        feedback["safetyRatings"] = SAFETY_RATINGS
    return {
        "promptFeedback": feedback,
        "usageMetadata": _usage(plan, 0, 0),
        "modelVersion": plan.model.id,
        "responseId": rid,
    }


def unary_response(plan: Plan, rid: str) -> dict[str, Any]:
    if plan.block is not None:
        return blocked_response(plan, rid)
    segments, running, finish = _segments(plan)
    thoughts = _thought_tokens(plan)
    if finish not in ("STOP", "MAX_TOKENS"):  # stopped by a filter: no content at all
        candidates = [_candidate([], i, finish) for i in range(plan.candidates)]
        return _response(plan, candidates, _usage(plan, 0, thoughts), rid)
    candidates = []
    for i, seg in enumerate(segments):
        parts: list[dict[str, Any]] = []
        if plan.include_thoughts:
            parts.append({"text": _thought_text(plan), "thought": True})
        text = "".join(p["text"] for event in seg for p in event if "text" in p)
        if text:
            part: dict[str, Any] = {"text": text}
            if plan.model.gemini3 and plan.thinking:
                part["thoughtSignature"] = signature(plan.model.id, f"text|{i}|{plan.prompt}")
            parts.append(part)
        parts += [p for event in seg for p in event if "text" not in p]
        candidates.append(_candidate(parts, i, finish))
    return _response(plan, candidates, _usage(plan, running[-1], thoughts), rid)


def stream_events(plan: Plan, rid: str) -> list[dict[str, Any]]:
    """The partial responses of a stream: same responseId, finishReason only on the last."""
    if plan.block is not None:
        return [blocked_response(plan, rid)]
    segments, running, finish = _segments(plan)
    thoughts = _thought_tokens(plan)
    events = []
    if plan.include_thoughts:
        thought = [{"text": _thought_text(plan), "thought": True}]
        cands = [_candidate(thought, i, None) for i in range(plan.candidates)]
        events.append(_response(plan, cands, _usage(plan, 0, thoughts), rid))
    last = len(running) - 1
    for k in range(last + 1):
        cands = [
            _candidate(seg[k], i, finish if k == last else None) for i, seg in enumerate(segments)
        ]
        events.append(_response(plan, cands, _usage(plan, running[k], thoughts), rid))
    return events
