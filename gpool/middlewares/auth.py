"""Auth: a client token from Bearer, x-goog-api-key or ?key=, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gpool.errors import Unauthorized
from gpool.state import CLIENT, ROUTE

#: The client of an open gpool (no auth.tokens): every caller is the same one.
ANONYMOUS = "anonymous"

__all__ = ["auth_middleware", "client_credential"]


def client_credential(request: web.Request) -> str | None:
    """The credential the client sent, wherever a Gemini or OpenAI client puts it."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-goog-api-key") or request.query.get("key") or None


def auth_middleware(tokens: tuple[str, ...]) -> Middleware:
    """Reject requests without a known token; with no tokens configured, gpool is open.

    The CLI refuses to serve an open gpool on a non-loopback address.
    """
    known = [t.encode() for t in tokens]
    # A client is named by a digest of its token: stable, shareable, and no secret.
    names = [f"client-{hashlib.sha256(t).hexdigest()[:12]}" for t in known]

    def client_of(credential: str) -> str | None:
        candidate = credential.encode()
        # Compare against every token so timing says nothing about which one matched.
        matches = [hmac.compare_digest(candidate, t) for t in known]
        return names[matches.index(True)] if any(matches) else None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not known:
            request[CLIENT] = ANONYMOUS
            return await handler(request)
        info = request[ROUTE]
        if info is not None and info.public:
            return await handler(request)
        credential = client_credential(request)
        if credential is None:
            raise Unauthorized(
                "missing client token: send it as 'Authorization: Bearer …' or 'x-goog-api-key'"
            )
        client = client_of(credential)
        if client is None:
            raise Unauthorized("invalid client token")
        request[CLIENT] = client
        return await handler(request)

    return auth
