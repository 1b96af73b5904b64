"""Each middleware alone, in a tiny app of its own, as aiohttp tests its middlewares."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
from aiohttp import web

from gpool.config import CorsConfig
from gpool.errors import BadRequest, UpstreamFailure
from gpool.keys import KeyPool, PoolKey, transient
from gpool.middlewares import (
    apply_response_headers,
    auth_middleware,
    cors_middleware,
    errors_middleware,
    keys_middleware,
    request_log_middleware,
    retry_middleware,
)
from gpool.routes import RouteInfo
from gpool.state import KEY, RESPONSE_STARTED, ROUTES


def tiny_app(handler: Any, *middlewares: Any, info: RouteInfo | None = None) -> web.Application:
    app = web.Application(middlewares=[request_log_middleware(), *middlewares])
    app.on_response_prepare.append(apply_response_headers)
    app.router.add_route("*", "/x", handler, name="x")
    app[ROUTES] = {"x": info or RouteInfo("google")}
    return app


async def test_errors_renders_our_errors_and_hides_the_unexpected(aiohttp_client: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.query.get("kind") == "bad":
            raise BadRequest("field 'contents' is required")
        raise RuntimeError("secret internals")

    client = await aiohttp_client(tiny_app(handler, errors_middleware()))
    bad = await client.get("/x", params={"kind": "bad"})
    assert bad.status == 400
    assert await bad.json() == {
        "error": {
            "code": 400,
            "message": "field 'contents' is required",
            "status": "INVALID_ARGUMENT",
        }
    }
    boom = await client.get("/x")
    assert boom.status == 500
    body = await boom.text()
    assert "secret internals" not in body and "Traceback" not in body
    assert (await boom.json())["error"]["status"] == "INTERNAL"


async def test_errors_uses_openais_shape_on_openai_routes(aiohttp_client: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        raise BadRequest("messages must be a list")

    app = tiny_app(handler, errors_middleware(), info=RouteInfo("openai"))
    resp = await (await aiohttp_client(app)).post("/x")
    assert await resp.json() == {
        "error": {
            "message": "messages must be a list",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_cors_headers_reach_a_prepared_stream(aiohttp_client: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"chunk")
        return response

    app = tiny_app(handler, cors_middleware(CorsConfig(allow_origins=("https://a.example",))))
    resp = await (await aiohttp_client(app)).get("/x", headers={"Origin": "https://a.example"})
    assert await resp.read() == b"chunk"
    assert resp.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert resp.headers["X-Request-Id"]


async def test_auth_alone(aiohttp_client: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="in")

    client = await aiohttp_client(
        tiny_app(handler, errors_middleware(), auth_middleware(("t1", "t2")))
    )
    assert (await client.get("/x", headers={"Authorization": "Bearer t2"})).status == 200
    assert (await client.get("/x", params={"key": "t1"})).status == 200
    assert (await client.get("/x", headers={"Authorization": "Bearer t3"})).status == 401


async def test_retry_and_keys_give_each_attempt_a_new_key(aiohttp_client: Any) -> None:
    pool = KeyPool([PoolKey(index=i, secret=f"s{i}", label=f"k{i}") for i in range(4)])
    used: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        used.append(request[KEY].label)
        if len(used) < 3:
            raise UpstreamFailure("boom", transient("test"))
        return web.Response(text=request[KEY].label)

    app = tiny_app(
        handler,
        errors_middleware(),
        retry_middleware(3),
        keys_middleware(pool),
        info=RouteInfo("google", keyed=True),
    )
    resp = await (await aiohttp_client(app)).get("/x")
    assert await resp.text() == "k2"
    assert used == ["k0", "k1", "k2"]
    assert [k.failures for k in pool.keys] == [1, 1, 0, 0]


async def test_retry_never_fires_after_the_response_started(aiohttp_client: Any) -> None:
    pool = KeyPool([PoolKey(index=i, secret=f"s{i}", label=f"k{i}") for i in range(3)])
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        response = web.StreamResponse()
        await response.prepare(request)
        assert request[RESPONSE_STARTED]
        raise UpstreamFailure("late", transient("test"))

    app = tiny_app(
        handler,
        errors_middleware(),
        retry_middleware(3),
        keys_middleware(pool),
        info=RouteInfo("google", keyed=True),
    )
    client = await aiohttp_client(app)
    # The connection is dropped mid-answer, as it must be; what matters is one call.
    with contextlib.suppress(aiohttp.ClientError):
        await (await client.get("/x")).read()
    assert calls == 1
