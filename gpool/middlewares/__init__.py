"""One middleware per concern; ``gpool.app`` sets their order."""

from gpool.middlewares.auth import auth_middleware
from gpool.middlewares.cors import cors_middleware
from gpool.middlewares.errors import errors_middleware
from gpool.middlewares.keys import keys_middleware
from gpool.middlewares.models import models_middleware
from gpool.middlewares.request_log import (
    AccessLog,
    apply_response_headers,
    request_log_middleware,
)
from gpool.middlewares.retry import retry_middleware

__all__ = [
    "AccessLog",
    "apply_response_headers",
    "auth_middleware",
    "cors_middleware",
    "errors_middleware",
    "keys_middleware",
    "models_middleware",
    "request_log_middleware",
    "retry_middleware",
]
