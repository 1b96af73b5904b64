"""Every typed key under which gpool keeps state on the app and on each request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from gpool.catalog import ModelCatalog
    from gpool.config import Config
    from gpool.keys import KeyPool, PoolKey, Verdict
    from gpool.media import MediaFetcher
    from gpool.recovery import RecoveryProbe
    from gpool.resources import ResourceMap
    from gpool.routes import RouteInfo
    from gpool.upstream import Upstream

__all__ = [
    "BODY",
    "CATALOG",
    "CLIENT",
    "CONFIG",
    "KEY",
    "MEDIA",
    "MODEL",
    "PIN",
    "POOL",
    "PREPARED",
    "PROBE",
    "RESOURCES",
    "RESPONSE_HEADERS",
    "RESPONSE_STARTED",
    "ROUTE",
    "ROUTES",
    "STREAM_FAILURE",
    "TOKENS",
    "TRIED_KEYS",
    "UPSTREAM",
    "UPSTREAM_MODEL",
]

# Application state, set once by create_app() or its cleanup context.
CONFIG: web.AppKey[Config] = web.AppKey("config")
POOL: web.AppKey[KeyPool] = web.AppKey("pool")
UPSTREAM: web.AppKey[Upstream] = web.AppKey("upstream")
CATALOG: web.AppKey[ModelCatalog] = web.AppKey("catalog")
MEDIA: web.AppKey[MediaFetcher] = web.AppKey("media")
RESOURCES: web.AppKey[ResourceMap] = web.AppKey("resources")
PROBE: web.AppKey[RecoveryProbe] = web.AppKey("probe")
ROUTES: web.AppKey[dict[str, RouteInfo]] = web.AppKey("routes")

# Per-request state, written by one middleware and read by the stages after it.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
RESPONSE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("response_headers")
RESPONSE_STARTED: web.RequestKey[bool] = web.RequestKey("response_started")
MODEL: web.RequestKey[str] = web.RequestKey("model")  # the name the client used
UPSTREAM_MODEL: web.RequestKey[str] = web.RequestKey("upstream_model")  # after aliases
KEY: web.RequestKey[PoolKey] = web.RequestKey("key")  # the key of the current attempt
TRIED_KEYS: web.RequestKey[list[PoolKey]] = web.RequestKey("tried_keys")
ROUTE: web.RequestKey[RouteInfo | None] = web.RequestKey("route")  # what the route needs
STREAM_FAILURE: web.RequestKey[Verdict | None] = web.RequestKey("stream_failure")
BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("body")  # a JSON body, parsed once
PREPARED: web.RequestKey[Any] = web.RequestKey("prepared")  # a handler's work kept across retries
CLIENT: web.RequestKey[str] = web.RequestKey("client")  # who is calling: set by auth, no secret
PIN: web.RequestKey[PoolKey | None] = web.RequestKey("pin")  # the key a resource ties us to
TOKENS: web.RequestKey[int | None] = web.RequestKey("tokens")  # the answer's cost, for tpm
