"""OpenAI ``messages`` as Gemini ``contents`` and ``systemInstruction`` parts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from gpool.errors import BadRequest

from ._media import FetchedMedia, audio_part, file_part, image_part
from ._util import JSON, type_name

__all__ = ["Conversation", "convert_messages"]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_GEMINI_ROLE = {"user": "user", "assistant": "model", "tool": "user", "function": "user"}


@attrs.frozen(kw_only=True)
class Conversation:
    contents: list[JSON]
    system: list[JSON]
    tool_names: dict[str, str]  # tool_call_id -> function name, from the assistant turns


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON, and Gemini would reject them


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _texts(content: Any, where: str, *, refusal: bool = False) -> list[str]:
    """A string, or a list of text (and, for assistants, refusal) parts; null is no text."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise BadRequest(f"{where}: expected a string or a list of parts, got {type_name(content)}")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        key = "refusal" if refusal and kind == "refusal" else "text" if kind == "text" else None
        if not isinstance(part, Mapping) or key is None:
            raise BadRequest(f"{where}[{j}]: expected a text part")
        text = part.get(key)
        if not isinstance(text, str):
            raise BadRequest(f"{where}[{j}].{key}: expected a string, got {type_name(text)}")
        texts.append(text)
    return texts


def _user_parts(content: Any, where: str, media: Mapping[str, FetchedMedia]) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"{where}: expected a string or a list of parts, got {type_name(content)}")
    parts: list[JSON] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise BadRequest(f"{at}: expected an object, got {type_name(part)}")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise BadRequest(f"{at}.text: expected a string, got {type_name(text)}")
            parts += [{"text": text}] if text else []
        elif kind == "image_url":
            parts.append(image_part(part, at, media))
        elif kind == "input_audio":
            parts.append(audio_part(part, at))
        elif kind == "file":
            parts.append(file_part(part, at))
        else:
            raise BadRequest(f"{at}.type: unsupported content part type {kind!r}")
    return parts


def _call_part(call: Any, where: str) -> tuple[str, JSON]:
    """One assistant tool call (or legacy function_call) -> (name, functionCall part)."""
    function = call.get("function") if "function" in call else call
    if not isinstance(function, Mapping):
        raise BadRequest(f"{where}.function: expected an object, got {type_name(function)}")
    at = f"{where}.function" if function is not call else where
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{at}.name: expected a non-empty string, got {type_name(name)}")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            args = _loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise BadRequest(f"{at}.arguments: not valid JSON") from None
    else:
        args = {} if arguments is None else arguments
    if not isinstance(args, dict):
        raise BadRequest(f"{at}.arguments: expected a JSON object, got {type_name(args)}")
    part: JSON = {"functionCall": {"name": name, "args": args}}
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    if isinstance(signature, str) and signature:
        part["thoughtSignature"] = signature
    return name, part


def _assistant_parts(message: Mapping[str, Any], where: str, names: dict[str, str]) -> list[JSON]:
    text = "".join(_texts(message.get("content"), f"{where}.content", refusal=True))
    parts: list[JSON] = [{"text": text}] if text else []
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise BadRequest(f"{where}.tool_calls: expected a list, got {type_name(calls)}")
    for j, call in enumerate(calls or []):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, Mapping):
            raise BadRequest(f"{at}: expected an object, got {type_name(call)}")
        if call.get("type", "function") != "function":
            raise BadRequest(f"{at}.type: only function tool calls are supported")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise BadRequest(f"{at}.id: expected a non-empty string, got {type_name(call_id)}")
        name, part = _call_part({**call, "function": call.get("function")}, at)
        names[call_id] = name
        parts.append(part)
    legacy = message.get("function_call")
    if legacy is not None:
        if not isinstance(legacy, Mapping):
            raise BadRequest(f"{where}.function_call: expected an object")
        parts.append(_call_part(legacy, f"{where}.function_call")[1])
    return parts


def _tool_response(name: str, content: Any, where: str) -> JSON:
    """A JSON object result is the response itself; anything else goes under ``content``."""
    if not isinstance(content, str | list):
        raise BadRequest(f"{where}: expected a string or a list of parts, got {type_name(content)}")
    text = "".join(_texts(content, where))
    try:
        value = _loads(text)
    except ValueError:
        value = text
    response = value if isinstance(value, dict) else {"content": value}
    return {"functionResponse": {"name": name, "response": response}}


def _tool_parts(message: Mapping[str, Any], where: str, names: Mapping[str, str]) -> list[JSON]:
    if message["role"] == "function":  # legacy: the function's name, no call id
        name = message.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where}.name: expected a non-empty string, got {type_name(name)}")
    else:
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise BadRequest(f"{where}.tool_call_id: required for a tool message")
        if call_id not in names:
            raise BadRequest(
                f"{where}.tool_call_id: no earlier assistant tool call has the id {call_id!r}"
            )
        name = names[call_id]
    return [_tool_response(name, message.get("content"), f"{where}.content")]


def _append(contents: list[JSON], role: str, parts: list[JSON]) -> None:
    """Add a turn, merged into the previous one when the role repeats (Gemini alternates)."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def convert_messages(messages: Any, media: Mapping[str, FetchedMedia]) -> Conversation:
    if messages is None:
        raise BadRequest("messages: required")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(f"messages: expected a non-empty list, got {type_name(messages)}")
    contents: list[JSON] = []
    system: list[JSON] = []
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise BadRequest(f"{where}: expected an object, got {type_name(message)}")
        role = message.get("role")
        if role not in _ROLES:
            raise BadRequest(f"{where}.role: expected one of {', '.join(_ROLES)}, got {role!r}")
        content = message.get("content")
        if role in ("system", "developer"):
            if content is None:
                raise BadRequest(f"{where}.content: required")
            system += [{"text": t} for t in _texts(content, f"{where}.content") if t]
            continue
        if role == "user":
            parts = _user_parts(content, f"{where}.content", media)
        elif role == "assistant":
            parts = _assistant_parts(message, where, names)
        else:
            parts = _tool_parts(message, where, names)
        _append(contents, _GEMINI_ROLE[role], parts)
    if not contents:
        if not system:
            raise BadRequest("messages: no message has any content")
        # Gemini needs at least one turn; a lone instruction becomes the user's turn.
        contents, system = [{"role": "user", "parts": system}], []
    return Conversation(contents=contents, system=system, tool_names=names)
