"""Turning a generateContent body into a Plan: validation and every choice the answer needs."""

from __future__ import annotations

from typing import Any

import attrs

from .catalog import ModelInfo
from .faults import invalid_argument
from .reading import count_tokens, markers, parts_of, pick, text_of
from .wire import FakeError

__all__ = ["Plan", "plan_generate"]

_SIGNATURE_MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
_MODALITIES = {
    "text": frozenset({"TEXT"}),
    "gemma": frozenset({"TEXT"}),
    "tts": frozenset({"AUDIO"}),
    "image": frozenset({"TEXT", "IMAGE"}),
}


@attrs.define(kw_only=True)
class Plan:
    """What to answer: read from the request once, then rendered unary or streamed."""

    model: ModelInfo
    prompt: str
    prompt_tokens: int
    prompt_details: list[dict[str, Any]]
    thinking: bool = False
    include_thoughts: bool = False
    thinking_budget: int | None = None
    candidates: int = 1
    max_output_tokens: int | None = None
    json_mode: bool = False
    schema: Any = None
    calls: list[dict[str, Any]] = attrs.Factory(list)  # declarations to call, in order
    results: list[Any] | None = None  # functionResponse payloads of the last turn
    modalities: frozenset[str] = frozenset({"TEXT"})
    finish: str = "STOP"
    block: str | None = None
    chunks: int = 3
    delay: float | None = None
    midstream: int | None = None


def _int_marker(marks: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = marks.get(name)
    if raw is None or not raw.isdigit():
        return None
    return min(max(int(raw), low), high)


def _thinking(plan: Plan, config: Any) -> None:
    model = plan.model
    thinking = pick(config, "thinkingConfig")
    budget = pick(thinking, "thinkingBudget")
    level = pick(thinking, "thinkingLevel")
    if level is not None and model.thinking and not model.gemini3:
        raise invalid_argument("Thinking level is not supported for this model.")
    if level is not None and budget is not None:
        raise invalid_argument("You can only set only one of thinking budget and thinking level.")
    if budget is not None and not isinstance(budget, int):
        raise invalid_argument(
            f"Invalid value at 'generation_config.thinking_config.thinking_budget' "
            f'(TYPE_INT32), "{budget}"',
            "generation_config.thinking_config.thinking_budget",
        )
    if budget == 0 and model.thinking_required and not model.gemini3:
        raise invalid_argument("Budget 0 is invalid. This model only works in thinking mode.")
    if not model.thinking:
        return
    if budget is None:
        plan.thinking = model.thinking_default or level is not None
    else:
        # Gemini 3 cannot stop thinking; it takes budget 0 as "think little".
        plan.thinking = budget != 0 or model.gemini3
        plan.thinking_budget = budget if budget > 0 else None
    plan.include_thoughts = plan.thinking and bool(pick(thinking, "includeThoughts"))


def _config(plan: Plan, config: Any, marks: dict[str, str]) -> None:
    count = pick(config, "candidateCount")
    marked = _int_marker(marks, "candidates", 1, 1000)
    count = marked if marked is not None else count
    if count is not None:
        if not isinstance(count, int) or not 1 <= count <= 8:
            raise invalid_argument("Only values in range [1, 8] are supported for candidate_count.")
        plan.candidates = count
    limit = pick(config, "maxOutputTokens")
    if isinstance(limit, int) and limit > 0:
        plan.max_output_tokens = limit
    mime = pick(config, "responseMimeType")
    if mime == "application/json":
        plan.json_mode = True
        plan.schema = pick(config, "responseJsonSchema") or pick(config, "responseSchema")
    requested = pick(config, "responseModalities")
    if isinstance(requested, list) and requested:
        plan.modalities = frozenset(str(m).upper() for m in requested)
    accepted = _MODALITIES.get(plan.model.kind, frozenset({"TEXT"}))
    if not plan.modalities <= accepted or (plan.model.kind == "tts" and not requested):
        asked = ", ".join(sorted(plan.modalities))
        raise invalid_argument(
            f"The requested combination of response modalities ({asked}) is not supported by "
            f"the model. models/{plan.model.id} accepts the following combination of response "
            f"modalities:\n* {', '.join(sorted(accepted))}\n"
        )


def _check_signatures(contents: list[Any]) -> None:
    """Gemini 3 rejects the current turn's function calls when the first lacks its signature."""
    start = -1
    for i, content in enumerate(contents):
        if pick(content, "role") != "model" and any(
            isinstance(p, dict) and pick(p, "functionResponse") is None for p in parts_of(content)
        ):
            start = i
    for i in range(start + 1, len(contents)):
        content = contents[i]
        if pick(content, "role") != "model":
            continue
        for part in parts_of(content):
            call = pick(part, "functionCall")
            if call is None:
                continue
            if not pick(part, "thoughtSignature"):
                name = pick(call, "name")
                raise invalid_argument(_SIGNATURE_MISSING.format(name=name, position=i + 1))
            break


def _tools(plan: Plan, body: dict[str, Any], marks: dict[str, str]) -> None:
    declared: list[dict[str, Any]] = []
    tools = pick(body, "tools")
    for tool in tools if isinstance(tools, list) else []:
        decls = pick(tool, "functionDeclarations")
        if isinstance(decls, list):
            declared += [d for d in decls if isinstance(d, dict) and isinstance(d.get("name"), str)]
    calling = pick(pick(body, "toolConfig"), "functionCallingConfig")
    if not declared or str(pick(calling, "mode") or "AUTO").upper() == "NONE":
        return
    allowed = pick(calling, "allowedFunctionNames")
    if isinstance(allowed, list) and allowed:
        by_name = {d["name"]: d for d in declared}
        declared = [by_name[n] for n in allowed if n in by_name] or declared
    count = _int_marker(marks, "parallel", 1, 128) or 1
    plan.calls = [declared[i % len(declared)] for i in range(count)]


def plan_generate(body: dict[str, Any], model: ModelInfo) -> Plan:
    """Validate a GenerateContentRequest the way Google does and decide the answer."""
    contents = pick(body, "contents")
    if not isinstance(contents, list) or not contents:
        raise invalid_argument(
            "* GenerateContentRequest.contents: contents is not specified\n", "contents"
        )
    system = pick(body, "systemInstruction")
    if system is not None and model.kind == "gemma":
        raise invalid_argument(f"Developer instruction is not enabled for models/{model.id}")
    if model.gemini3:
        _check_signatures(contents)
    last = contents[-1]
    results = [
        pick(pick(p, "functionResponse"), "response")
        for p in parts_of(last)
        if pick(p, "functionResponse") is not None
    ]
    text = ""
    for content in reversed(contents):
        if pick(content, "role") != "model":
            text = text_of(content)
            if text:
                break
    prompt, marks = markers(text)
    total, details = count_tokens(contents, system, pick(body, "tools"))
    plan = Plan(model=model, prompt=prompt, prompt_tokens=total, prompt_details=details)
    config = pick(body, "generationConfig")
    if config is not None and not isinstance(config, dict):
        raise FakeError(400, 'Invalid JSON payload received. Unknown name "generationConfig".')
    _thinking(plan, config)
    _config(plan, config, marks)
    if results:
        plan.results = results
    elif pick(last, "role") != "model":
        _tools(plan, body, marks)
    plan.chunks = _int_marker(marks, "chunks", 1, 1000) or 3
    plan.finish = marks.get("finish", "STOP").upper()
    plan.block = marks["block"].upper() if "block" in marks else None
    delay = _int_marker(marks, "delay_ms", 0, 3_600_000)
    plan.delay = None if delay is None else delay / 1000
    plan.midstream = _int_marker(marks, "midstream_error", 400, 599)
    return plan
