"""Frozen attrs models of gpool's configuration; parsing lives in ``config_loader``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import attrs

from gpool.redact import mask_key, mask_url

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PROXY_SCHEMES",
    "AuthConfig",
    "Config",
    "CorsConfig",
    "FieldError",
    "KeyConfig",
    "LogConfig",
    "MediaConfig",
    "ModelsConfig",
    "RetryConfig",
    "ServerConfig",
    "UpstreamConfig",
    "proxy_url_problem",
]

# The schemes aiohttp-socks' ProxyConnector.from_url() understands.
PROXY_SCHEMES = ("socks4", "socks5", "http")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")

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


def _url_repr(value: str | None) -> str:
    # Proxy URLs may carry a password, so reprs only ever show them masked.
    return repr(None if value is None else mask_url(value))


def _has_space(text: str) -> bool:
    return any(ch.isspace() for ch in text)


def _proxy(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (problem := proxy_url_problem(value)) is not None:
        raise FieldError(attribute.name, problem)


def _between(low: int, high: int) -> _Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if not low <= value <= high:
            raise FieldError(attribute.name, f"must be between {low} and {high}, got {value}")

    return check


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise FieldError(attribute.name, f"must be greater than 0, got {value}")


def _one_of(*choices: str) -> _Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise FieldError(attribute.name, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


def _word_problem(text: str) -> str | None:
    # Deliberately never quotes the text: the same check guards keys and tokens.
    if not text:
        return "must not be empty"
    if _has_space(text):
        return "must not contain whitespace"
    return None


def _word(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and (problem := _word_problem(value)) is not None:
        raise FieldError(attribute.name, problem)


def _words(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, item in enumerate(value):
        if (problem := _word_problem(item)) is not None:
            raise FieldError(attribute.name, problem, index)


def _origins(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
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


def _aliases(_inst: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
    for alias, target in value.items():
        for role, name in (("alias name", alias), ("alias target", target)):
            if (problem := _word_problem(name)) is not None:
                raise FieldError(attribute.name, f"{role} {problem}", alias)
            if name.startswith("models/"):
                raise FieldError(
                    attribute.name,
                    f"{role} {name!r} must not start with 'models/' (use the bare model name)",
                    alias,
                )


def _base_url(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(
            attribute.name, f"must be an http(s) URL with a host, got {mask_url(value)!r}"
        )


def _strip_slash(value: str) -> str:
    return value.rstrip("/")


def _lower(value: str) -> str:
    return value.lower()


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Where gpool listens; port 0 picks a free port."""

    host: str = attrs.field(default="127.0.0.1", validator=_word)
    port: int = attrs.field(default=8000, validator=_between(0, 65535))
    max_body_mb: int = attrs.field(default=64, validator=_between(1, 4096))


@attrs.frozen(kw_only=True)
class AuthConfig:
    """The client tokens gpool accepts."""

    tokens: tuple[str, ...] = attrs.field(default=(), repr=False, validator=_words)


@attrs.frozen(kw_only=True)
class UpstreamConfig:
    """The Gemini endpoint, the default proxy and the timeouts (seconds).

    ``read_timeout`` is the longest silence allowed between upstream bytes; there is
    no total limit, so long streams keep flowing.
    """

    base_url: str = attrs.field(
        default="https://generativelanguage.googleapis.com",
        converter=_strip_slash,
        validator=_base_url,
        repr=_url_repr,
    )
    proxy: str | None = attrs.field(default=None, validator=_proxy, repr=_url_repr)
    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    read_timeout: float = attrs.field(default=120.0, validator=_positive)


@attrs.frozen(kw_only=True)
class KeyConfig:
    """One upstream API key; ``proxy`` overrides ``upstream.proxy`` for this key."""

    key: str = attrs.field(repr=False, validator=_word)
    name: str | None = attrs.field(default=None, validator=_word)
    proxy: str | None = attrs.field(default=None, validator=_proxy, repr=_url_repr)
    weight: int = attrs.field(default=1, validator=_between(1, 1000))

    @property
    def label(self) -> str:
        """The name if set, else the masked key: safe for logs and the admin API."""
        return self.name if self.name is not None else mask_key(self.key)


@attrs.frozen(kw_only=True)
class CorsConfig:
    """Browser access; no ``allow_origins`` means CORS is off. ``max_age`` is in seconds."""

    allow_origins: tuple[str, ...] = attrs.field(default=(), validator=_origins)
    max_age: int = attrs.field(default=600, validator=_between(0, 86400))


@attrs.frozen(kw_only=True)
class ModelsConfig:
    """Which models clients may use (glob patterns) and client-visible aliases.

    An empty ``allow`` allows all; ``deny`` wins over ``allow``. Alias names and
    targets are bare model names: a ``models/`` prefix is rejected, not stripped.
    ``refresh_seconds`` is how long the upstream model catalog is cached.
    """

    allow: tuple[str, ...] = attrs.field(default=(), validator=_words)
    deny: tuple[str, ...] = attrs.field(default=(), validator=_words)
    # Read-only; left out of the hash because a mapping is not hashable.
    aliases: Mapping[str, str] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_aliases, hash=False
    )
    refresh_seconds: float = attrs.field(default=300.0, validator=_positive)


@attrs.frozen(kw_only=True)
class MediaConfig:
    """How gpool fetches http(s) media that OpenAI clients reference by URL.

    Private, loopback and link-local addresses are refused unless ``allow_private``.
    """

    timeout: float = attrs.field(default=10.0, validator=_positive)
    max_mb: int = attrs.field(default=20, validator=_between(1, 100))
    allow_private: bool = False


@attrs.frozen(kw_only=True)
class RetryConfig:
    """Total attempts per request, each on a different key."""

    max_attempts: int = attrs.field(default=3, validator=_between(1, 20))


@attrs.frozen(kw_only=True)
class LogConfig:
    """Log verbosity and line format (case-insensitive in the file)."""

    level: str = attrs.field(default="info", converter=_lower, validator=_one_of(*LOG_LEVELS))
    format: str = attrs.field(default="text", converter=_lower, validator=_one_of(*LOG_FORMATS))


@attrs.frozen(kw_only=True)
class Config:
    """The whole configuration; every section has defaults (demo mode builds it in code)."""

    server: ServerConfig = attrs.field(factory=ServerConfig)
    auth: AuthConfig = attrs.field(factory=AuthConfig)
    upstream: UpstreamConfig = attrs.field(factory=UpstreamConfig)
    keys: tuple[KeyConfig, ...] = ()
    cors: CorsConfig = attrs.field(factory=CorsConfig)
    models: ModelsConfig = attrs.field(factory=ModelsConfig)
    retry: RetryConfig = attrs.field(factory=RetryConfig)
    log: LogConfig = attrs.field(factory=LogConfig)
    media: MediaConfig = attrs.field(factory=MediaConfig)
