"""Sampling, output format, thinking and tool settings as Gemini request fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpool.errors import BadRequest

from ._util import JSON, camel, optional_bool, optional_int, optional_number, type_name

__all__ = ["generation_config", "google_extra", "thinking_config", "tool_fields"]

_EFFORTS = ("none", "minimal", "low", "medium", "high")
# Gemini 2.5 takes a token budget; 2.5 Pro cannot stop thinking and 128 is its minimum.
_BUDGET = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
_PRO_MIN_BUDGET = 128
# Gemini 3 takes a level and cannot stop thinking either.
_LEVEL = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high"}
# Models in a thinking family by name that do not think (or take no thinkingConfig).
_NOT_THINKING = ("-tts", "-image", "embedding", "-live", "-audio")
# The "-latest" aliases point at 2.5 or newer; Gemini 3 accepts a budget too.
_LATEST = ("gemini-flash-latest", "gemini-flash-lite-latest", "gemini-pro-latest")
_MODES = {"none": "NONE", "auto": "AUTO", "required": "ANY"}


def _family(upstream_model: str) -> str | None:
    """How the model takes a thinking setting: "budget" (2.5), "level" (3) or not at all."""
    name = upstream_model.removeprefix("models/").lower()
    if any(marker in name for marker in _NOT_THINKING):
        return None
    if name.startswith("gemini-3"):
        return "level"
    if name.startswith("gemini-2.5") or name in _LATEST:
        return "budget"
    return None


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise BadRequest(f"stop: expected a string or a list of strings, got {type_name(value)}")
    return [s for s in value if s] or None


def _without_schema_uri(schema: Any, where: str) -> JSON:
    if not isinstance(schema, dict):
        raise BadRequest(f"{where}: expected a JSON Schema object, got {type_name(schema)}")
    # Gemini rejects the top-level "$schema" keyword; it says nothing about the data anyway.
    return {k: v for k, v in schema.items() if k != "$schema"}


def _response_format(value: Any, config: JSON) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise BadRequest(f"response_format: expected an object, got {type_name(value)}")
    kind = value.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind != "json_schema":
        raise BadRequest(
            f"response_format.type: expected text, json_object or json_schema, got {kind!r}"
        )
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise BadRequest(f"response_format.json_schema: expected an object, got {type_name(spec)}")
    config["responseMimeType"] = "application/json"
    if spec.get("schema") is not None:  # "name" and "strict" have no Gemini equivalent
        schema = _without_schema_uri(spec["schema"], "response_format.json_schema.schema")
        config["responseJsonSchema"] = schema


def generation_config(body: Mapping[str, Any]) -> JSON:
    """Only what the client set: Gemini's own defaults stay in charge of the rest."""
    config: JSON = {}
    for key, name in (("temperature", "temperature"), ("top_p", "topP")):
        if (value := optional_number(body, key)) is not None:
            config[name] = value
    limit = optional_int(body, "max_completion_tokens", minimum=1)
    legacy = optional_int(body, "max_tokens", minimum=1)
    if limit is not None or legacy is not None:
        config["maxOutputTokens"] = limit if limit is not None else legacy
    if (stop := _stop(body.get("stop"))) is not None:
        config["stopSequences"] = stop
    n = optional_int(body, "n", minimum=1)
    if n is not None and n != 1:  # 1 is Gemini's default too; some models reject the field
        config["candidateCount"] = n
    if (seed := optional_int(body, "seed")) is not None:
        config["seed"] = seed
    for key, name in (
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if (value := optional_number(body, key)) is not None:
            config[name] = value
    if optional_bool(body, "logprobs"):
        config["responseLogprobs"] = True
    if (top := optional_int(body, "top_logprobs", minimum=0)) is not None:
        config["logprobs"] = top
    _response_format(body.get("response_format"), config)
    return config


def google_extra(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """Google's ``extra_body.google`` block (the OpenAI SDK merges it to the top) and its path."""
    extra = body.get("extra_body")
    nested = extra.get("google") if isinstance(extra, Mapping) else None
    top = body.get("google")
    google, where = (top, "google") if top is not None else (nested, "extra_body.google")
    if google is None:
        return {}, where
    if not isinstance(google, Mapping):
        raise BadRequest(f"{where}: expected an object, got {type_name(google)}")
    return google, where


def thinking_config(
    body: Mapping[str, Any], google: Mapping[str, Any], where: str, upstream_model: str
) -> tuple[JSON, bool]:
    """``reasoning_effort`` and ``google.thinking_config`` -> (thinkingConfig, include thoughts)."""
    config: JSON = {}
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in _EFFORTS:
        raise BadRequest(f"reasoning_effort: expected one of {', '.join(_EFFORTS)}, got {effort!r}")
    family = _family(upstream_model)
    if effort is not None and family == "level":
        config["thinkingLevel"] = _LEVEL[effort]
    elif effort is not None and family == "budget":
        budget = _BUDGET[effort]
        if budget == 0 and "-pro" in upstream_model.lower():
            budget = _PRO_MIN_BUDGET
        config["thinkingBudget"] = budget
    explicit = google.get("thinking_config", google.get("thinkingConfig"))
    if explicit is None:
        return config, False
    where = f"{where}.thinking_config"
    if not isinstance(explicit, Mapping):
        raise BadRequest(f"{where}: expected an object, got {type_name(explicit)}")
    explicit = {camel(k): v for k, v in explicit.items()}
    include = explicit.get("includeThoughts")
    if include is not None and not isinstance(include, bool):
        raise BadRequest(f"{where}.include_thoughts: expected a boolean, got {type_name(include)}")
    if "thinkingBudget" in explicit or "thinkingLevel" in explicit:
        # Gemini takes one of the two; the explicit one wins over reasoning_effort's.
        config.pop("thinkingBudget", None)
        config.pop("thinkingLevel", None)
    config.update(explicit)
    return config, bool(include)


def _declaration(function: Any, where: str) -> JSON:
    if not isinstance(function, Mapping):
        raise BadRequest(f"{where}: expected an object, got {type_name(function)}")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}.name: expected a non-empty string, got {type_name(name)}")
    declaration: JSON = {"name": name}
    description = function.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise BadRequest(f"{where}.description: expected a string")
        declaration["description"] = description
    parameters = function.get("parameters")
    if parameters is not None:  # "strict" has no Gemini equivalent
        schema = _without_schema_uri(parameters, f"{where}.parameters")
        declaration["parametersJsonSchema"] = schema
    return declaration


def _declarations(body: Mapping[str, Any]) -> list[JSON]:
    declarations = []
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise BadRequest(f"tools: expected a list, got {type_name(tools)}")
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, Mapping):
            raise BadRequest(f"tools[{i}]: expected an object, got {type_name(tool)}")
        if tool.get("type") != "function":
            raise BadRequest(f"tools[{i}].type: only function tools are supported")
        declarations.append(_declaration(tool.get("function"), f"tools[{i}].function"))
    functions = body.get("functions")  # the legacy spelling of tools
    if functions is not None and not isinstance(functions, list):
        raise BadRequest(f"functions: expected a list, got {type_name(functions)}")
    for i, function in enumerate(functions or []):
        declarations.append(_declaration(function, f"functions[{i}]"))
    return declarations


def _calling_config(body: Mapping[str, Any], names: list[str]) -> JSON | None:
    key = "tool_choice" if body.get("tool_choice") is not None else "function_call"
    choice = body.get(key)
    if choice is None:
        return None
    legacy = key == "function_call"  # {"name": X}, and no "required"
    if isinstance(choice, str) and choice in _MODES and not (legacy and choice == "required"):
        return {"mode": _MODES[choice]}
    if isinstance(choice, Mapping) and not legacy and choice.get("type") != "function":
        raise BadRequest(f"{key}.type: expected 'function', got {choice.get('type')!r}")
    function = choice if legacy else choice.get("function") if isinstance(choice, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str):
        raise BadRequest(f"{key}: expected none, auto, required or a named function")
    if name not in names:
        where = key if legacy else f"{key}.function"
        raise BadRequest(f"{where}.name: no tool is named {name!r}")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


def tool_fields(body: Mapping[str, Any]) -> JSON:
    """``tools`` and ``toolConfig``; ``parallel_tool_calls`` has no Gemini equivalent."""
    declarations = _declarations(body)
    calling = _calling_config(body, [d["name"] for d in declarations])
    if not declarations:
        return {}  # with no tools, a tool_choice has nothing to steer
    fields: JSON = {"tools": [{"functionDeclarations": declarations}]}
    if calling is not None:
        fields["toolConfig"] = {"functionCallingConfig": calling}
    return fields
