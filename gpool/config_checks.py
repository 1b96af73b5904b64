"""Field validators and converters for the config models: invariants only, readable messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import attrs

from gpool.redact import mask_url

PROXY_SCHEMES = ("socks4", "socks5", "http")

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


class FieldError(ValueError):
    """A validator's complaint about one field (``index`` picks an item of a collection).

    The loader turns it into ``$.section.field[index]: message``; in code it reads as
    ``field[index]: message``. Messages never contain a secret.
    """

    def __init__(self, field: str, message: str, index: int | str | None = None) -> None:
        where = field if index is None else f"{field}[{index!r}]"
        super().__init__(f"{where}: {message}")
        self.field = field
        self.message = message
        self.index = index


def proxy_url_problem(url: str) -> str | None:
    """Say why ``url`` is not a usable proxy URL, or return None if it is."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "proxy URL has an invalid host or port"
    if not parts.scheme or "://" not in url:
        return "expected a proxy URL like socks5://127.0.0.1:1080"
    if parts.scheme not in PROXY_SCHEMES:
        return f"unsupported scheme '{parts.scheme}' (use {', '.join(PROXY_SCHEMES)})"
    if not parts.hostname:
        return "proxy URL has no host"
    if port is None:
        return "proxy URL has no port (like socks5://127.0.0.1:1080)"
    return None


def url_repr(value: str | None) -> str:
    # Proxy URLs may carry a password, so reprs only ever show them masked.
    return repr(None if value is None else mask_url(value))


def has_space(text: str) -> bool:
    return any(ch.isspace() for ch in text)


def check_proxy(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (problem := proxy_url_problem(value)) is not None:
        raise FieldError(attribute.name, problem)


def between(low: int, high: int) -> _Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if not low <= value <= high:
            raise FieldError(attribute.name, f"must be between {low} and {high}, got {value}")

    return check


def positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise FieldError(attribute.name, f"must be greater than 0, got {value}")


def non_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise FieldError(attribute.name, f"must not be negative, got {value}")


def one_of(*choices: str) -> _Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise FieldError(attribute.name, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


def word_problem(text: str) -> str | None:
    # Deliberately never quotes the text: the same check guards keys and tokens.
    if not text:
        return "must not be empty"
    if has_space(text):
        return "must not contain whitespace"
    return None


def word(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (problem := word_problem(value)) is not None:
        raise FieldError(attribute.name, problem)


def words(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, item in enumerate(value):
        if (problem := word_problem(item)) is not None:
            raise FieldError(attribute.name, problem, index)


def check_origins(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, origin in enumerate(value):
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise FieldError(
                attribute.name,
                "must be '*' or an origin like https://example.com (no path or trailing slash)",
                index,
            )


def check_aliases(_inst: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
    for alias, target in value.items():
        for role, name in (("alias name", alias), ("alias target", target)):
            if (problem := word_problem(name)) is not None:
                raise FieldError(attribute.name, f"{role} {problem}", alias)
            if name.startswith("models/"):
                raise FieldError(
                    attribute.name,
                    f"{role} {name!r} must not start with 'models/' (use the bare model name)",
                    alias,
                )


def check_base_url(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(
            attribute.name, f"must be an http(s) URL with a host, got {mask_url(value)!r}"
        )


def strip_slash(value: str) -> str:
    return value.rstrip("/")


def lower(value: str) -> str:
    return value.lower()


def frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))
