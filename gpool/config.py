"""Frozen attrs models of gpool's configuration; parsing lives in ``config_loader``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

import attrs

from gpool.config_checks import (
    PROXY_SCHEMES,
    FieldError,
    between,
    check_aliases,
    check_base_url,
    check_origins,
    check_proxy,
    frozen_mapping,
    lower,
    non_negative,
    one_of,
    positive,
    proxy_url_problem,
    strip_slash,
    url_repr,
    word,
    words,
)
from gpool.redact import mask_key

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PROXY_SCHEMES",
    "AuthConfig",
    "Config",
    "CorsConfig",
    "FieldError",
    "KeyConfig",
    "LimitConfig",
    "LogConfig",
    "MediaConfig",
    "ModelsConfig",
    "PoolConfig",
    "RetryConfig",
    "ServerConfig",
    "UpstreamConfig",
    "proxy_url_problem",
]

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
STRATEGIES = ("round_robin", "least_used", "weighted")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Where gpool listens; port 0 picks a free port."""

    host: str = attrs.field(default="127.0.0.1", validator=word)
    port: int = attrs.field(default=8000, validator=between(0, 65535))
    max_body_mb: int = attrs.field(default=64, validator=between(1, 4096))


@attrs.frozen(kw_only=True)
class AuthConfig:
    """The client tokens gpool accepts."""

    tokens: tuple[str, ...] = attrs.field(default=(), repr=False, validator=words)


@attrs.frozen(kw_only=True)
class UpstreamConfig:
    """The Gemini endpoint, the default proxy and the timeouts (seconds).

    ``read_timeout`` is the longest silence allowed between upstream bytes; there is
    no total limit, so long streams keep flowing.
    """

    base_url: str = attrs.field(
        default="https://generativelanguage.googleapis.com",
        converter=strip_slash,
        validator=check_base_url,
        repr=url_repr,
    )
    proxy: str | None = attrs.field(default=None, validator=check_proxy, repr=url_repr)
    connect_timeout: float = attrs.field(default=10.0, validator=positive)
    read_timeout: float = attrs.field(default=120.0, validator=positive)


def _optional_count(
    _inst: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and value < 1:
        raise FieldError(attribute.name, f"must be at least 1, got {value}")


@attrs.frozen(kw_only=True)
class LimitConfig:
    """Declared limits of one model on one key (Google's free tier, or a paid tier's)."""

    rpm: int | None = attrs.field(default=None, validator=_optional_count)
    rpd: int | None = attrs.field(default=None, validator=_optional_count)
    tpm: int | None = attrs.field(default=None, validator=_optional_count)


def _limits_mapping(value: Mapping[str, LimitConfig]) -> Mapping[str, LimitConfig]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class KeyConfig:
    """One upstream API key; ``proxy`` overrides ``upstream.proxy`` for this key."""

    key: str = attrs.field(repr=False, validator=word)
    name: str | None = attrs.field(default=None, validator=word)
    proxy: str | None = attrs.field(default=None, validator=check_proxy, repr=url_repr)
    weight: int = attrs.field(default=1, validator=between(1, 1000))
    # Per-model limits of this key, field by field over the top-level ``limits``.
    limits: Mapping[str, LimitConfig] = attrs.field(
        factory=dict, converter=_limits_mapping, hash=False
    )

    @property
    def label(self) -> str:
        """The name if set, else the masked key: safe for logs and the admin API."""
        return self.name if self.name is not None else mask_key(self.key)


@attrs.frozen(kw_only=True)
class CorsConfig:
    """Browser access; no ``allow_origins`` means CORS is off. ``max_age`` is in seconds."""

    allow_origins: tuple[str, ...] = attrs.field(default=(), validator=check_origins)
    max_age: int = attrs.field(default=600, validator=between(0, 86400))


@attrs.frozen(kw_only=True)
class ModelsConfig:
    """Which models clients may use (glob patterns) and client-visible aliases.

    An empty ``allow`` allows all; ``deny`` wins over ``allow``. Alias names and
    targets are bare model names: a ``models/`` prefix is rejected, not stripped.
    ``refresh_seconds`` is how long the upstream model catalog is cached.
    """

    allow: tuple[str, ...] = attrs.field(default=(), validator=words)
    deny: tuple[str, ...] = attrs.field(default=(), validator=words)
    # Read-only; left out of the hash because a mapping is not hashable.
    aliases: Mapping[str, str] = attrs.field(
        factory=dict, converter=frozen_mapping, validator=check_aliases, hash=False
    )
    refresh_seconds: float = attrs.field(default=300.0, validator=positive)


@attrs.frozen(kw_only=True)
class MediaConfig:
    """How gpool fetches http(s) media that OpenAI clients reference by URL.

    Private, loopback and link-local addresses are refused unless ``allow_private``.
    """

    timeout: float = attrs.field(default=10.0, validator=positive)
    max_mb: int = attrs.field(default=20, validator=between(1, 100))
    allow_private: bool = False


@attrs.frozen(kw_only=True)
class RetryConfig:
    """Total attempts per request, each on a different key."""

    max_attempts: int = attrs.field(default=3, validator=between(1, 20))


@attrs.frozen(kw_only=True)
class PoolConfig:
    """How keys are chosen and how hard failures count against them."""

    strategy: str = attrs.field(default="round_robin", validator=one_of(*STRATEGIES))
    backoff_base: float = attrs.field(default=2.0, validator=positive)  # 429 with no delay
    backoff_cap: float = attrs.field(default=300.0, validator=positive)
    eject_after: int = attrs.field(default=3, validator=between(1, 1000))
    eject_base: float = attrs.field(default=30.0, validator=positive)
    max_ejected_percent: int = attrs.field(default=50, validator=between(0, 100))
    retry_budget_percent: int = attrs.field(default=20, validator=between(0, 1000))
    retry_budget_min_per_second: float = attrs.field(default=1.0, validator=non_negative)
    probe_interval: float = attrs.field(default=300.0, validator=positive)
    probe_concurrency: int = attrs.field(default=2, validator=between(1, 64))


def _state_url(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    parts = urlsplit(value)
    if value == "memory":
        return
    if parts.scheme == "sqlite" and value.startswith("sqlite:///") and len(value) > 10:
        return
    if parts.scheme in ("redis", "rediss") and parts.hostname:
        return
    raise FieldError(
        attribute.name,
        "must be memory, sqlite:///path/to/gpool.db or redis://host:port/db",
    )


@attrs.frozen(kw_only=True)
class LogConfig:
    """Log verbosity and line format (case-insensitive in the file)."""

    level: str = attrs.field(default="info", converter=lower, validator=one_of(*LOG_LEVELS))
    format: str = attrs.field(default="text", converter=lower, validator=one_of(*LOG_FORMATS))


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
    # Per-model limits applied to each key; a key's own ``limits`` override them.
    limits: Mapping[str, LimitConfig] = attrs.field(
        factory=dict, converter=_limits_mapping, hash=False
    )
    pool: PoolConfig = attrs.field(factory=PoolConfig)
    # Where key health, day counts and resource owners are kept (a relative sqlite path is
    # read from the config file's directory).
    state: str = attrs.field(default="sqlite:///gpool.db", validator=_state_url)
