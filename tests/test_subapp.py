"""gpool mounted under a prefix inside someone else's aiohttp app."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gpool import create_app
from gpool.config import AuthConfig
from gpool.fake import FakeState, fake_key
from tests.conftest import MakeConfig, generate_calls

TOKEN = "sk-sub"


async def test_gpool_works_as_a_sub_app(
    make_config: MakeConfig, aiohttp_client: Any, fake: FakeState
) -> None:
    parent = web.Application()

    async def own(request: web.Request) -> web.Response:
        return web.Response(text="parent")

    parent.router.add_get("/", own)
    keys = [fake_key("invalid", 1), fake_key("ok", 2)]
    parent.add_subapp("/gemini", create_app(make_config(keys, auth=AuthConfig(tokens=(TOKEN,)))))
    client = await aiohttp_client(parent, server_kwargs={"handler_cancellation": True})
    auth = {"x-goog-api-key": TOKEN}
    body = b'{"contents":[{"parts":[{"text":"hi [chunks=3]"}]}]}'

    assert await (await client.get("/")).text() == "parent"
    unary = await client.post(
        "/gemini/v1beta/models/gemini-2.5-flash:generateContent", data=body, headers=auth
    )
    assert unary.status == 200 and unary.headers["X-Request-Id"]
    stream = await client.post(
        "/gemini/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse", data=body, headers=auth
    )
    assert stream.status == 200
    assert (await stream.read()).count(b"\r\n\r\n") == 3
    listing = await client.get("/gemini/v1beta/models", headers=auth)
    assert listing.status == 200 and (await listing.json())["models"]
    refused = await client.post("/gemini/v1beta/models/gemini-2.5-flash:generateContent", data=body)
    assert refused.status == 401
    assert (await refused.json())["error"]["status"] == "UNAUTHENTICATED"
    # The invalid key failed once (on the catalog listing) and was then left alone.
    assert [c.key for c in fake.calls].count(keys[0]) == 1
    assert {c.key for c in generate_calls(fake)} == {keys[1]}
