"""Small shared helpers: compact JSON, both Gemini spellings, and typed field checks."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from gpool.errors import BadRequest

__all__ = [
    "JSON",
    "camel",
    "compact",
    "is_int",
    "is_number",
    "optional_bool",
    "optional_int",
    "optional_number",
    "pick",
    "type_name",
]

JSON = dict[str, Any]

_CAMEL_RE = re.compile(r"_([a-z0-9])")
_SNAKE_RE = re.compile(r"(?<!^)(?=[A-Z])")


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def compact(obj: Any) -> str:
    """JSON as OpenAI and Gemini both write it on the wire: no spaces, UTF-8 kept."""
    return _COMPACT.encode(obj)  # json.dumps() would build a new encoder for each call


def camel(name: str) -> str:
    """``thinking_budget`` -> ``thinkingBudget``; camelCase stays as it is."""
    return _CAMEL_RE.sub(lambda m: m.group(1).upper(), name)


def pick(obj: Any, key: str) -> Any:
    """``obj[key]`` (camelCase) or its snake_case twin: Google's JSON parser accepts both.

    ``obj`` is parsed JSON, so a dict (an ABC check would cost more than the lookup).
    """
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    if value is None:
        value = obj.get(_snake(key))
    return value


@functools.cache
def _snake(key: str) -> str:
    return _SNAKE_RE.sub("_", key).lower()  # keys are the code's own literals: few


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def optional_number(body: Mapping[str, Any], key: str) -> float | int | None:
    """``body[key]`` if it is a number; absent or null is None; anything else is a 400."""
    value = body.get(key)
    if value is None:
        return None
    if not is_number(value):
        raise BadRequest(f"{key}: expected a number, got {type_name(value)}")
    return value  # type: ignore[no-any-return]


def optional_int(body: Mapping[str, Any], key: str, *, minimum: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not is_int(value):
        raise BadRequest(f"{key}: expected an integer, got {type_name(value)}")
    if minimum is not None and value < minimum:
        raise BadRequest(f"{key}: must be at least {minimum}, got {value}")
    return value  # type: ignore[no-any-return]


def optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadRequest(f"{key}: expected a boolean, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    """How a JSON value's type reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
