"""Reading request bodies: both field spellings, prompt markers, token counts and schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .faults import invalid_argument

__all__ = [
    "count_tokens",
    "markers",
    "parse_body",
    "pick",
    "sample_value",
    "text_of",
]

_SNAKE_RE = re.compile(r"(?<!^)(?=[A-Z])")
_SNAKE: dict[str, str] = {}
_MARKER_RE = re.compile(
    r"\[(chunks|finish|block|candidates|parallel|delay_ms|midstream_error)=([A-Za-z0-9_]+)\]"
)
MEDIA_TOKENS = 258  # what Google counts for one image


def pick(obj: Any, camel: str) -> Any:
    """``obj[camel]`` or its snake_case twin: proto-JSON accepts both spellings."""
    if not isinstance(obj, Mapping):
        return None
    value = obj.get(camel)
    if value is None:
        snake = _SNAKE.get(camel)
        if snake is None:
            snake = _SNAKE[camel] = _SNAKE_RE.sub("_", camel).lower()
        value = obj.get(snake)
    return value


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; an empty body reads as ``{}``."""
    if not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "Invalid UTF-8."
        message = f"Invalid JSON payload received. {reason}."
        raise invalid_argument(message, "") from None
    if not isinstance(obj, dict):
        raise invalid_argument("Invalid JSON payload received. Root element must be a message.", "")
    return obj


def parts_of(content: Any) -> list[Any]:
    parts = pick(content, "parts")
    return parts if isinstance(parts, list) else []


def text_of(content: Any) -> str:
    """The text parts of one Content, joined (thought parts left out)."""
    texts = [
        p["text"]
        for p in parts_of(content)
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]
    return "".join(texts)


def markers(text: str) -> tuple[str, dict[str, str]]:
    """Split ``[name=value]`` markers off a prompt: (text without them, {name: value})."""
    if "[" not in text:
        return text, {}
    found = {m.group(1): m.group(2) for m in _MARKER_RE.finditer(text)}
    if not found:
        return text, {}
    return " ".join(_MARKER_RE.sub(" ", text).split()), found


def _media_modality(mime: Any) -> str:
    kind = mime.split("/", 1)[0] if isinstance(mime, str) else ""
    return {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO"}.get(kind, "DOCUMENT")


def tokens(chars: int) -> int:
    """Roughly four characters a token, as Google's own rule of thumb says."""
    return (chars + 3) // 4


def count_tokens(
    contents: Any, system: Any = None, tools: Any = None
) -> tuple[int, list[dict[str, Any]]]:
    """(total, promptTokensDetails) for a prompt, cheaply estimated."""
    chars = 0
    media: dict[str, int] = {}
    items = list(contents) if isinstance(contents, list) else []
    if system is not None:
        items.append(system)
    for content in items:
        for part in parts_of(content):
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                chars += len(text)
                continue
            blob = pick(part, "inlineData") or pick(part, "fileData")
            if blob is not None:
                modality = _media_modality(pick(blob, "mimeType"))
                media[modality] = media.get(modality, 0) + MEDIA_TOKENS
                continue
            call = pick(part, "functionCall") or pick(part, "functionResponse")
            if call is not None:
                chars += len(json.dumps(call))
    if tools:
        chars += len(json.dumps(tools))
    text_tokens = tokens(chars)
    details = [{"modality": "TEXT", "tokenCount": text_tokens}]
    details += [{"modality": m, "tokenCount": n} for m, n in media.items()]
    return text_tokens + sum(media.values()), details


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), None)
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def sample_value(schema: Any, *, all_properties: bool, depth: int = 0) -> Any:
    """A simple value of the schema's type: "value", 1, true, [item] or an object.

    Objects get every declared property (``all_properties``, for JSON mode) or only
    the required ones (function-call arguments). Works for JSON Schema and Google's
    OpenAPI subset (upper-case type names).
    """
    if not isinstance(schema, Mapping) or depth > 8:
        return "value"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "any_of", "one_of"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return sample_value(options[0], all_properties=all_properties, depth=depth + 1)
    kind = _schema_type(schema)
    if kind == "string":
        return "value"
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        return [sample_value(schema.get("items"), all_properties=all_properties, depth=depth + 1)]
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        required = schema.get("required")
        names = list(props) if all_properties else []
        if isinstance(required, list):
            names += [n for n in required if isinstance(n, str) and n not in names]
        return {
            n: sample_value(props.get(n), all_properties=all_properties, depth=depth + 1)
            for n in names
        }
    return "value"
