"""The official google-genai SDK drives gpool through a pool of faulty and healthy keys."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from google import genai
from google.genai import types

from gpool.config import AuthConfig
from gpool.fake import FakeState, fake_key
from tests.conftest import MakeConfig, StartGpool, generate_calls

TOKEN = "sk-sdk-client"
KEYS = [fake_key("invalid", 1), fake_key("rpm", 2), fake_key("overloaded", 3), fake_key("ok", 4)]


def sdk_client(client: TestClient, api_version: str | None) -> genai.Client:
    options = types.HttpOptions(base_url=str(client.make_url("/")), api_version=api_version)
    return genai.Client(api_key=TOKEN, http_options=options)


@pytest.mark.parametrize("api_version", [None, "v1beta"], ids=["sdk-default-v1", "v1beta"])
async def test_sdk_unary_and_stream_see_only_successes(
    api_version: str | None, make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    from gpool.config import RetryConfig

    config = make_config(KEYS, auth=AuthConfig(tokens=(TOKEN,)), retry=RetryConfig(max_attempts=4))
    client = await start_gpool(config)
    sdk = sdk_client(client, api_version)

    answer = await sdk.aio.models.generate_content(model="gemini-2.5-flash", contents="Hello there")
    assert "Hello there" in (answer.text or "")
    assert answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.STOP

    pieces = []
    async for chunk in await sdk.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents="stream please [chunks=4]"
    ):
        pieces.append(chunk.text or "")
    assert len(pieces) == 4 and "stream please" in "".join(pieces)

    tokens = await sdk.aio.models.count_tokens(model="gemini-2.5-flash", contents="a b c d")
    assert tokens.total_tokens

    version = api_version or "v1"
    calls = generate_calls(fake)
    assert {c.path.split("/")[1] for c in calls} == {version}
    assert calls[-1].key == fake_key("ok", 4)
    assert all(c.headers["x-goog-api-key"] != TOKEN for c in fake.calls)


async def test_sdk_sees_a_gemini_error_for_a_denied_model(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    from gpool.config import ModelsConfig

    config = make_config(
        [fake_key("ok", 1)], auth=AuthConfig(tokens=(TOKEN,)), models=ModelsConfig(deny=("*-pro",))
    )
    sdk = sdk_client(await start_gpool(config), None)
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"
