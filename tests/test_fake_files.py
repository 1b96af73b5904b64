"""The fake's Files and cachedContents APIs: per-project stores, as Google keeps them."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from google import genai
from google.genai import types

from gpool.fake import FakeState, fake_key

KEY_A, KEY_B = fake_key("ok", 1), fake_key("ok", 2)
MODEL = "gemini-2.5-flash"


def _key(key: str | None) -> dict[str, str]:
    return {} if key is None else {"x-goog-api-key": key}


async def start_upload(
    http: ClientSession, server: TestServer, key: str, size: int, name: str = "notes"
) -> str:
    headers = {
        **_key(key),
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": "text/plain",
    }
    body = {"file": {"display_name": name}}
    async with http.post(server.make_url("/upload/v1beta/files"), json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["X-Goog-Upload-Status"] == "active"
        return r.headers["X-Goog-Upload-URL"]


async def upload(http: ClientSession, server: TestServer, key: str, data: bytes) -> dict[str, Any]:
    url = await start_upload(http, server, key, len(data))
    headers = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    async with http.post(url, data=data, headers=headers) as r:
        assert r.status == 200 and r.headers["X-Goog-Upload-Status"] == "final"
        file: dict[str, Any] = (await r.json())["file"]
        return file


def _generate_body(file_uri: str, *, snake: bool = False) -> dict[str, Any]:
    data = {"file_uri": file_uri, "mime_type": "text/plain"} if snake else {"fileUri": file_uri}
    part = {"file_data": data} if snake else {"fileData": data}
    return {"contents": [{"role": "user", "parts": [part, {"text": "what is in it?"}]}]}


async def test_resumable_upload_in_chunks(fake_server: TestServer, fake: FakeState) -> None:
    data = b"hello, files api"
    async with ClientSession() as http:
        url = await start_upload(http, fake_server, KEY_A, len(data))
        assert url.startswith(str(fake_server.make_url("/upload/v1beta/files?upload_id=")))
        first = {"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"}
        async with http.post(url, data=data[:5], headers=first) as r:
            assert r.status == 200 and r.headers["X-Goog-Upload-Status"] == "active"
        async with http.post(url, headers={"X-Goog-Upload-Command": "query"}) as r:
            assert r.headers["X-Goog-Upload-Size-Received"] == "5"
        last = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "5"}
        async with http.post(url, data=data[5:], headers=last) as r:
            assert r.status == 200 and r.headers["X-Goog-Upload-Status"] == "final"
            file = (await r.json())["file"]
        async with http.post(url, headers=last) as r:  # the session is over
            assert r.status == 404 and r.headers["X-Goog-Upload-Status"] == "final"
    file_id = file["name"].removeprefix("files/")
    assert file["displayName"] == "notes" and file["mimeType"] == "text/plain"
    assert file["sizeBytes"] == str(len(data))
    assert file["uri"] == str(fake_server.make_url(f"/v1beta/files/{file_id}"))
    assert file["state"] == "ACTIVE" and file["source"] == "UPLOADED"
    digest = hashlib.sha256(data).hexdigest().encode()
    assert base64.b64decode(file["sha256Hash"]) == digest
    assert {"createTime", "updateTime", "expirationTime"} <= file.keys()
    names = [c.method_name for c in fake.calls]
    assert names == ["files.upload", *["files.upload.continue"] * 4]


@pytest.mark.parametrize(
    ("offset", "declared", "status"), [("3", 4, 400), ("0", 9, 400), ("0", 4, 200)]
)
async def test_upload_checks_offsets_and_sizes(
    offset: str, declared: int, status: int, fake_server: TestServer
) -> None:
    async with ClientSession() as http:
        url = await start_upload(http, fake_server, KEY_A, declared)
        headers = {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": offset}
        async with http.post(url, data=b"abcd", headers=headers) as r:
            assert r.status == status
            assert r.headers["X-Goog-Upload-Status"] == "final"


async def test_multipart_upload(fake_server: TestServer) -> None:
    boundary = "gpool-boundary"
    body = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        '{"file": {"displayName": "multi"}}\r\n'
        f"--{boundary}\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--{boundary}--\r\n"
    ).encode()
    headers = {
        **_key(KEY_A),
        "X-Goog-Upload-Protocol": "multipart",
        "Content-Type": f"multipart/related; boundary={boundary}",
    }
    async with (
        ClientSession() as http,
        http.post(fake_server.make_url("/upload/v1beta/files"), data=body, headers=headers) as r,
    ):
        assert r.status == 200 and r.headers["X-Goog-Upload-Status"] == "final"
        file = (await r.json())["file"]
    assert file["displayName"] == "multi" and file["mimeType"] == "text/csv"
    assert file["sizeBytes"] == "8"


async def test_files_belong_to_the_project_of_their_key(fake_server: TestServer) -> None:
    async with ClientSession() as http:
        mine = [await upload(http, fake_server, KEY_A, b"x" * n) for n in (1, 2, 3)]
        theirs = await upload(http, fake_server, KEY_B, b"other")
        file_id = mine[0]["name"].removeprefix("files/")

        async def call(method: str, path: str, key: str | None) -> tuple[int, Any]:
            async with http.request(method, fake_server.make_url(path), headers=_key(key)) as r:
                return r.status, await r.json(content_type=None)

        status, page = await call("GET", "/v1beta/files?pageSize=2", KEY_A)
        assert status == 200 and [f["name"] for f in page["files"]] == [
            mine[2]["name"],
            mine[1]["name"],
        ]
        status, rest = await call("GET", f"/v1/files?pageToken={page['nextPageToken']}", KEY_A)
        assert [f["name"] for f in rest["files"]] == [mine[0]["name"]]
        assert "nextPageToken" not in rest
        assert (await call("GET", f"/v1beta/{mine[0]['name']}", KEY_A)) == (200, mine[0])

        status, error = await call("GET", f"/v1beta/files/{file_id}", KEY_B)
        assert status == 403
        assert error == {
            "error": {
                "code": 403,
                "message": f"You do not have permission to access the File {file_id} or it "
                "may not exist.",
                "status": "PERMISSION_DENIED",
            }
        }
        assert (await call("DELETE", f"/v1beta/files/{file_id}", KEY_B))[0] == 403
        _, listing = await call("GET", "/v1beta/files", KEY_B)
        assert [f["name"] for f in listing["files"]] == [theirs["name"]]

        assert await call("DELETE", f"/v1beta/files/{file_id}", KEY_A) == (200, {})
        assert (await call("GET", f"/v1beta/files/{file_id}", KEY_A))[0] == 403
        assert (await call("GET", "/v1beta/files", None))[0] == 403
        assert (await call("GET", "/v1beta/files", fake_key("invalid", 1)))[0] == 400
        _, empty = await call("GET", "/v1beta/files", fake_key("ok", 9))
        assert empty == {}


@pytest.mark.parametrize("verb", ["generateContent", "streamGenerateContent", "countTokens"])
@pytest.mark.parametrize("form", ["uri", "name", "snake"])
async def test_generating_with_a_file_of_another_project_is_refused(
    verb: str, form: str, fake_server: TestServer
) -> None:
    async with ClientSession() as http:
        file = await upload(http, fake_server, KEY_A, b"secret notes")
        ref = file["uri"] if form != "name" else file["name"]
        body = _generate_body(ref, snake=form == "snake")
        url = fake_server.make_url(f"/v1beta/models/{MODEL}:{verb}")
        async with http.post(url, json=body, headers=_key(KEY_A)) as r:
            assert r.status == 200
        for key in (KEY_B, KEY_A):
            if key == KEY_A:
                body = _generate_body("files/doesnotexist")
            async with http.post(url, json=body, headers=_key(key)) as r:
                assert r.status == 403
                error = (await r.json())["error"]
                assert error["status"] == "PERMISSION_DENIED" and "details" not in error


async def test_cached_contents_per_project(fake_server: TestServer, fake: FakeState) -> None:
    async with ClientSession() as http:
        file = await upload(http, fake_server, KEY_A, b"a long document")

        async def call(method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
            url = fake_server.make_url(path)
            async with http.request(method, url, json=body, headers=_key(key)) as r:
                return r.status, await r.json()

        create = {
            "model": f"models/{MODEL}",
            "contents": _generate_body(file["uri"])["contents"],
            "ttl": "300s",
            "displayName": "doc",
        }
        status, cache = await call("POST", "/v1beta/cachedContents", KEY_A, create)
        assert status == 200 and cache["name"].startswith("cachedContents/")
        assert cache["model"] == f"models/{MODEL}" and cache["displayName"] == "doc"
        assert cache["usageMetadata"]["totalTokenCount"] > 0
        assert {"createTime", "updateTime", "expireTime"} <= cache.keys()
        assert (await call("POST", "/v1beta/cachedContents", KEY_B, create))[0] == 403

        generate = {"contents": [{"parts": [{"text": "go on"}]}], "cached_content": cache["name"]}
        path = f"/v1beta/models/{MODEL}:generateContent"
        assert (await call("POST", path, KEY_A, generate))[0] == 200
        status, error = await call("POST", path, KEY_B, generate)
        assert status == 403 and "CachedContent not found" in error["error"]["message"]
        other_model = "/v1beta/models/gemini-2.5-pro:generateContent"
        assert (await call("POST", other_model, KEY_A, generate))[0] == 400
        with_system = {**generate, "systemInstruction": {"parts": [{"text": "be brief"}]}}
        assert (await call("POST", path, KEY_A, with_system))[0] == 400

        one = f"/v1beta/{cache['name']}"
        assert (await call("GET", one, KEY_B))[0] == 403
        status, patched = await call("PATCH", one, KEY_A, {"ttl": "7200s"})
        assert status == 200 and patched["expireTime"] > cache["expireTime"]
        status, listing = await call("GET", "/v1beta/cachedContents", KEY_A)
        assert [c["name"] for c in listing["cachedContents"]] == [cache["name"]]
        assert await call("GET", "/v1beta/cachedContents", KEY_B) == (200, {})
        assert await call("DELETE", one, KEY_A) == (200, {})
        assert (await call("GET", one, KEY_A))[0] == 403
    assert "cachedContents.create" in [c.method_name for c in fake.calls]
    assert "cachedContents.patch" in [c.method_name for c in fake.calls]


async def test_the_official_sdk_uploads_to_the_fake(fake_server: TestServer) -> None:
    options = types.HttpOptions(base_url=str(fake_server.make_url("/")), api_version="v1beta")
    sdk = genai.Client(api_key=KEY_A, http_options=options)
    file = await sdk.aio.files.upload(
        file=io.BytesIO(b"hello sdk"), config={"mime_type": "text/plain", "display_name": "hi"}
    )
    assert file.name and file.display_name == "hi" and file.size_bytes == 9
    assert (await sdk.aio.files.get(name=file.name)).sha256_hash == file.sha256_hash
    answer = await sdk.aio.models.generate_content(model=MODEL, contents=[file, "describe"])
    assert "describe" in (answer.text or "")
    assert [f.name async for f in await sdk.aio.files.list()] == [file.name]
    await sdk.aio.files.delete(name=file.name)
    with pytest.raises(genai.errors.ClientError) as caught:
        await sdk.aio.files.get(name=file.name)
    assert caught.value.code == 403
    assert json.dumps(caught.value.details).count("PERMISSION_DENIED") == 1
