"""Files and cached contents through gpool: each stays on the key (project) that made it."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google import genai
from google.genai import types

from gpool import create_app
from gpool.affinity import file_name, references
from gpool.config import AuthConfig
from gpool.fake import FakeState, fake_key
from gpool.fake.projects import FAKE_PROJECTS
from gpool.routes import uploads
from gpool.state import POOL
from tests.conftest import MakeConfig, StartGpool

TOKEN_A, TOKEN_B = "sk-files-client-a", "sk-files-client-b"
KEYS = [fake_key("ok", n) for n in (1, 2, 3)]
MODEL = "gemini-2.5-flash"
MODEL_CALLS = ("generateContent", "streamGenerateContent", "countTokens")
GpoolClient = TestClient[web.Request, web.Application]


def sdk_for(client: GpoolClient, token: str, prefix: str = "/") -> genai.Client:
    options = types.HttpOptions(base_url=str(client.make_url(prefix)), api_version="v1beta")
    return genai.Client(api_key=token, http_options=options)


async def sdk_upload(sdk: genai.Client, data: bytes = b"a note to remember") -> types.File:
    return await sdk.aio.files.upload(
        file=io.BytesIO(data), config={"mime_type": "text/plain", "display_name": "note"}
    )


async def start(make_config: MakeConfig, start_gpool: StartGpool, keys: list[str]) -> GpoolClient:
    auth = AuthConfig(tokens=(TOKEN_A, TOKEN_B))
    return await start_gpool(make_config(keys, auth=auth))


def owner(fake_server: TestServer, name: str) -> str:
    """The key whose project holds ``files/<id>`` or ``cachedContents/<id>`` upstream."""
    projects = fake_server.app[FAKE_PROJECTS]
    kind, _, ident = name.partition("/")
    return (projects.files if kind == "files" else projects.caches)[ident].project


def model_calls(fake: FakeState) -> list[Any]:
    return [c for c in fake.calls if c.method_name in MODEL_CALLS]


async def raw_start(client: GpoolClient, size: int, prefix: str = "") -> dict[str, str]:
    headers = {
        "x-goog-api-key": TOKEN_A,
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": "text/plain",
    }
    body = {"file": {"displayName": "raw"}}
    answer = await client.post(f"{prefix}/upload/v1beta/files", json=body, headers=headers)
    assert answer.status == 200, await answer.text()
    return dict(answer.headers)


async def raw_finish(client: GpoolClient, url: str, data: bytes) -> tuple[int, Any, str]:
    headers = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    async with client.session.post(url, data=data, headers=headers) as answer:
        return answer.status, await answer.json(), answer.headers["X-Goog-Upload-Status"]


def _with_files(*uris: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"fileData": {"fileUri": u, "mimeType": "text/plain"}} for u in uris
    ]
    return {"contents": [{"role": "user", "parts": [*parts, {"text": "compare them"}]}]}


async def test_sdk_upload_pins_every_later_call_to_the_creating_key(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, fake_server: TestServer
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    sdk = sdk_for(client, TOKEN_A)
    file = await sdk_upload(sdk)
    assert file.name and file.uri and file.display_name == "note"
    creator = owner(fake_server, file.name)
    for n in range(6):
        answer = await sdk.aio.models.generate_content(model=MODEL, contents=[file, f"turn {n}"])
        assert f"turn {n}" in (answer.text or "")
    async for _ in await sdk.aio.models.generate_content_stream(model=MODEL, contents=[file, "s"]):
        pass
    await sdk.aio.models.count_tokens(model=MODEL, contents=[file, "count"])
    pinned = model_calls(fake)
    assert len(pinned) == 8 and {c.key for c in pinned} == {creator}

    fake.clear()
    for _ in range(3):  # without a file, round-robin spreads the same calls
        await sdk.aio.models.generate_content(model=MODEL, contents="no file")
    assert len({c.key for c in model_calls(fake)}) == 3

    assert (await sdk.aio.files.get(name=file.name)).sha256_hash == file.sha256_hash
    assert [f.name async for f in await sdk.aio.files.list()] == [file.name]
    await sdk.aio.files.delete(name=file.name)
    assert file.name.removeprefix("files/") not in fake_server.app[FAKE_PROJECTS].files
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.files.get(name=file.name)
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    file_calls = [c for c in fake.calls if (c.method_name or "").startswith("files.")]
    assert {c.key for c in file_calls} == {creator}


async def test_another_client_can_neither_see_nor_use_a_file(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    file = await sdk_upload(sdk_for(client, TOKEN_A))
    assert file.name
    other = sdk_for(client, TOKEN_B)
    fake.clear()
    assert [f.name async for f in await other.aio.files.list()] == []
    attempts = [
        other.aio.files.get(name=file.name),
        other.aio.files.delete(name=file.name),
        other.aio.models.generate_content(model=MODEL, contents=[file, "steal"]),
        other.aio.caches.create(model=MODEL, config={"contents": [file, "steal"]}),
    ]
    for attempt in attempts:
        with pytest.raises(genai.errors.ClientError) as caught:
            await attempt
        assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
        assert "permission" not in (caught.value.message or "")
    assert [c for c in fake.calls if c.method_name != "list"] == []  # refused before upstream
    mine = sdk_for(client, TOKEN_A)
    assert [f.name async for f in await mine.aio.files.list()] == [file.name]


async def test_cached_content_lives_with_its_files_and_pins_generation(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, fake_server: TestServer
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    sdk = sdk_for(client, TOKEN_A)
    file = await sdk_upload(sdk)
    assert file.name
    creator = owner(fake_server, file.name)
    for _ in range(2):  # move round-robin on, so the cache would otherwise land elsewhere
        await sdk.aio.models.generate_content(model=MODEL, contents="warm up")
    cache = await sdk.aio.caches.create(
        model=MODEL, config={"contents": [file, "context"], "ttl": "300s", "display_name": "ctx"}
    )
    assert cache.name and owner(fake_server, cache.name) == creator
    fake.clear()
    for n in range(4):
        answer = await sdk.aio.models.generate_content(
            model=MODEL, contents=f"q{n}", config={"cached_content": cache.name}
        )
        assert f"q{n}" in (answer.text or "")
    chat = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "via openai"}],
        "extra_body": {"google": {"cached_content": cache.name}},
    }
    bearer = {"Authorization": f"Bearer {TOKEN_A}"}
    answer = await client.post("/v1/chat/completions", json=chat, headers=bearer)
    assert answer.status == 200, await answer.text()
    assert len(model_calls(fake)) == 5 and {c.key for c in model_calls(fake)} == {creator}

    updated = await sdk.aio.caches.update(name=cache.name, config={"ttl": "900s"})
    assert updated.expire_time and cache.expire_time and updated.expire_time > cache.expire_time
    assert [c.name async for c in await sdk.aio.caches.list()] == [cache.name]
    assert [c.name async for c in await sdk_for(client, TOKEN_B).aio.caches.list()] == []
    await sdk.aio.caches.delete(name=cache.name)
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.caches.get(name=cache.name)
    assert caught.value.code == 404

    chat["extra_body"] = {"google": {"cached_content": "cachedContents/unknown"}}
    refused = await client.post("/v1/chat/completions", json=chat, headers=bearer)
    assert refused.status == 404
    assert (await refused.json())["error"]["code"] == "resource_not_found"


async def test_upload_url_points_at_gpool_and_hides_the_upstream(
    make_config: MakeConfig, start_gpool: StartGpool, upstream_url: str
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    headers = await raw_start(client, 5)
    url = headers["X-Goog-Upload-URL"]
    assert url.startswith(str(client.make_url("/upload/v1beta/files/sessions/")))
    assert "?" not in url and upstream_url not in url and "upload_id" not in url
    assert not any(key in url for key in KEYS)
    assert not {"X-Goog-Upload-Control-URL", "X-GUploader-UploadID"} & headers.keys()
    assert headers["X-Goog-Upload-Status"] == "active"
    # Like Google's, the upload URL is the credential: google-genai sends no key with bytes.
    status, body, upload_status = await raw_finish(client, url, b"12345")
    assert status == 200 and upload_status == "final"
    assert body["file"]["sizeBytes"] == "5"
    assert len(uploads.sessions(client.server.app)) == 0
    again = await client.session.post(url, data=b"x", headers={"X-Goog-Upload-Command": "upload"})
    assert again.status == 404 and again.headers["X-Goog-Upload-Status"] == "final"
    assert (await again.json())["error"]["status"] == "NOT_FOUND"
    path = f"/v1beta/{body['file']['name']}"
    assert (await client.get(path, headers={"x-goog-api-key": TOKEN_A})).status == 200
    assert (await client.get(path, headers={"x-goog-api-key": TOKEN_B})).status == 404


async def test_files_of_two_keys_in_one_request_are_refused(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, fake_server: TestServer
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    sdk = sdk_for(client, TOKEN_A)
    first, second = await sdk_upload(sdk, b"one"), await sdk_upload(sdk, b"two")
    assert first.name and second.name and first.uri and second.uri
    assert owner(fake_server, first.name) != owner(fake_server, second.name)
    auth = {"x-goog-api-key": TOKEN_A}
    path = f"/v1beta/models/{MODEL}:generateContent"
    fake.clear()
    mixed = await client.post(path, json=_with_files(first.uri, second.name), headers=auth)
    assert mixed.status == 400
    error = (await mixed.json())["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "different Google Cloud projects" in error["message"]
    unknown = await client.post(path, json=_with_files("files/neverseen"), headers=auth)
    assert unknown.status == 404
    assert model_calls(fake) == []
    same = await client.post(path, json=_with_files(first.uri, first.name), headers=auth)
    assert same.status == 200


async def test_a_pinned_key_cooling_down_is_waited_for_not_replaced(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, fake_server: TestServer
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    sdk = sdk_for(client, TOKEN_A)
    file = await sdk_upload(sdk)
    assert file.name and file.uri
    pool = client.server.app[POOL]
    key = next(k for k in pool.keys if k.secret == owner(fake_server, file.name))
    key.cooldowns[MODEL] = time.time() + 30
    fake.clear()
    auth = {"x-goog-api-key": TOKEN_A}
    path = f"/v1beta/models/{MODEL}:generateContent"
    answer = await client.post(path, json=_with_files(file.uri), headers=auth)
    assert answer.status == 503
    assert 1 <= int(answer.headers["Retry-After"]) <= 30
    assert model_calls(fake) == []
    assert (await client.post(path, json=_with_files(), headers=auth)).status == 200


async def test_a_pin_survives_a_failed_attempt(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, fake_server: TestServer
) -> None:
    flaky = fake_key("flaky", 1)
    client = await start(make_config, start_gpool, [flaky, *KEYS[:2]])
    body = b"flaky project"
    headers = await raw_start(client, len(body))  # the first keyed call: round-robin's first key
    _, uploaded, _ = await raw_finish(client, headers["X-Goog-Upload-URL"], body)
    name = uploaded["file"]["name"]
    assert owner(fake_server, name) == flaky
    auth = {"x-goog-api-key": TOKEN_A}
    path = f"/v1beta/models/{MODEL}:generateContent"
    failed = await client.post(path, json=_with_files(name), headers=auth)  # flaky's 1st: a 503
    assert failed.status == 503
    assert "already failed" in (await failed.json())["error"]["message"]
    assert [c.key for c in model_calls(fake)] == [flaky]
    recovered = await client.post(path, json=_with_files(name), headers=auth)
    assert recovered.status == 200
    assert [c.key for c in model_calls(fake)] == [flaky, flaky]


async def test_upload_works_mounted_under_a_prefix(
    make_config: MakeConfig, aiohttp_client: Any, fake: FakeState, fake_server: TestServer
) -> None:
    parent = web.Application()
    config = make_config(KEYS, auth=AuthConfig(tokens=(TOKEN_A,)))
    parent.add_subapp("/gemini", create_app(config))
    client: GpoolClient = await aiohttp_client(parent)
    headers = await raw_start(client, 3, prefix="/gemini")
    url = headers["X-Goog-Upload-URL"]
    assert url.startswith(str(client.make_url("/gemini/upload/v1beta/files/sessions/")))
    assert (await raw_finish(client, url, b"abc"))[0] == 200

    sdk = sdk_for(client, TOKEN_A, "/gemini/")
    file = await sdk_upload(sdk)
    assert file.name
    fake.clear()
    for _ in range(3):
        await sdk.aio.models.generate_content(model=MODEL, contents=[file, "hello"])
    assert {c.key for c in model_calls(fake)} == {owner(fake_server, file.name)}
    assert len([f async for f in await sdk.aio.files.list(config={"page_size": 1})]) == 2


async def test_a_file_gone_upstream_is_forgotten(
    make_config: MakeConfig, start_gpool: StartGpool, fake_server: TestServer
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    sdk = sdk_for(client, TOKEN_A)
    kept, expired = await sdk_upload(sdk, b"kept"), await sdk_upload(sdk, b"expired")
    assert kept.name and expired.name
    del fake_server.app[FAKE_PROJECTS].files[expired.name.removeprefix("files/")]
    assert [f.name async for f in await sdk.aio.files.list()] == [kept.name]
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.files.get(name=expired.name)
    assert caught.value.code == 404  # gpool forgot it while listing

    del fake_server.app[FAKE_PROJECTS].files[kept.name.removeprefix("files/")]
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.files.get(name=kept.name)
    assert caught.value.code == 403  # Google's own answer, relayed once...
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.files.get(name=kept.name)
    assert caught.value.code == 404  # ...then gpool knows it is gone


async def test_multipart_upload_is_remembered(
    make_config: MakeConfig, start_gpool: StartGpool
) -> None:
    client = await start(make_config, start_gpool, KEYS)
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
        '{"file": {"displayName": "multi"}}\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    headers = {
        "x-goog-api-key": TOKEN_A,
        "X-Goog-Upload-Protocol": "multipart",
        "Content-Type": f"multipart/related; boundary={boundary}",
    }
    answer = await client.post("/upload/v1beta/files", data=body, headers=headers)
    assert answer.status == 200
    name = (await answer.json())["file"]["name"]
    got = await client.get(f"/v1beta/{name}", headers={"x-goog-api-key": TOKEN_A})
    assert got.status == 200 and (await got.json())["displayName"] == "multi"


HOSTS = frozenset({"generativelanguage.googleapis.com", "127.0.0.1"})


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("files/abc-123", "files/abc-123"),
        ("https://generativelanguage.googleapis.com/v1beta/files/abc", "files/abc"),
        ("http://127.0.0.1:8080/v1/files/abc", "files/abc"),
        ("https://example.com/v1beta/files/abc", None),  # an external document, not ours
        ("https://www.youtube.com/watch?v=abc", None),
        ("gs://bucket/files/abc", None),
        ("files/abc/extra", None),
    ],
)
def test_file_name_of_a_uri(uri: str, name: str | None) -> None:
    assert file_name(uri, HOSTS) == name


def test_references_in_either_spelling_anywhere() -> None:
    body = {
        "generateContentRequest": {
            "contents": [
                {"parts": [{"file_data": {"file_uri": "files/a"}}, {"text": "files/b"}]},
                {"parts": [{"fileData": {"fileUri": "https://www.youtube.com/watch?v=x"}}]},
            ],
            "systemInstruction": {"parts": [{"fileData": {"fileUri": "files/c"}}]},
            "cached_content": "cachedContents/z",
        },
        "cachedContent": "not-a-cache-name",
    }
    assert sorted(references(body, HOSTS)) == ["cachedContents/z", "files/a", "files/c"]


async def test_bodies_without_references_are_not_parsed(
    make_config: MakeConfig, start_gpool: StartGpool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gpool.affinity

    class NoParsing:
        @staticmethod
        def loads(*args: object, **kwargs: object) -> None:
            raise AssertionError("parsed a body that cannot name a resource")

    client = await start(make_config, start_gpool, KEYS)
    monkeypatch.setattr(gpool.affinity, "json", NoParsing)
    answer = await client.post(
        f"/v1beta/models/{MODEL}:generateContent",
        data=b'{"contents": [{"parts": [{"text": "plain"}]}]}',
        headers={"x-goog-api-key": TOKEN_A},
    )
    assert answer.status == 200


def test_upload_sessions_expire_and_stay_bounded() -> None:
    now = [0.0]
    table = uploads.UploadSessions(ttl=60, limit=2, clock=lambda: now[0])

    def session() -> uploads.UploadSession:
        return uploads.UploadSession("key", "client", "/upload/v1beta/files", (), now[0])

    first = table.open(session())
    second = table.open(session())
    assert table.get(first) is not None and first != second
    third = table.open(session())  # over the limit: the oldest goes
    assert table.get(first) is None and len(table) == 2
    now[0] = 61
    assert table.get(second) is None and table.get(third) is None
    table.open(session())
    assert len(table) == 1


async def test_an_upload_start_fails_over_to_a_working_key(
    make_config: MakeConfig, start_gpool: StartGpool, fake: FakeState, fake_server: TestServer
) -> None:
    bad = fake_key("invalid", 9)
    client = await start(make_config, start_gpool, [bad, KEYS[0]])
    file = await sdk_upload(sdk_for(client, TOKEN_A))
    assert file.name and owner(fake_server, file.name) == KEYS[0]
    starts = [c.key for c in fake.calls if c.method_name == "files.upload"]
    assert starts == [bad, KEYS[0]]
