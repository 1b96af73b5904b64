"""Embeddings and models: OpenAI requests as batchEmbedContents, and the answers back."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from gpool import jsonio
from gpool.errors import BadRequest
from gpool.translate import (
    EmbedPlan,
    EmptyAnswer,
    embeddings_request_to_gemini,
    embeddings_response_from_gemini,
    model_to_openai,
    models_to_openai,
)

# Both JSON implementations: orjson (gpool[speed]) and the standard library.
pytestmark = pytest.mark.usefixtures("json_backend")

MODEL = "gemini-embedding-001"


def request(**body: Any) -> tuple[list[dict[str, Any]], EmbedPlan]:
    return embeddings_request_to_gemini(body, upstream_model=MODEL)


def answer(*vectors: list[float]) -> dict[str, Any]:
    return {"embeddings": [{"values": v} for v in vectors]}


@pytest.mark.parametrize(
    ("body", "texts", "dims", "encoding", "tokens"),
    [
        ({"input": "abcde"}, ["abcde"], None, "float", 2),
        ({"input": ["a", "bcdefghi"], "dimensions": 3}, ["a", "bcdefghi"], 3, "float", 3),
        ({"input": "x", "encoding_format": "base64", "user": "u"}, ["x"], None, "base64", 1),
        ({"input": "x", "encoding_format": None, "dimensions": None}, ["x"], None, "float", 1),
    ],
)
def test_request(
    body: dict[str, Any], texts: list[str], dims: int | None, encoding: str, tokens: int
) -> None:
    batches, plan = request(**body)
    expected = []
    for text in texts:
        item: dict[str, Any] = {"model": f"models/{MODEL}", "content": {"parts": [{"text": text}]}}
        if dims is not None:
            item["outputDimensionality"] = dims
        expected.append(item)
    assert batches == [{"requests": expected}]
    assert plan == EmbedPlan(encoding_format=encoding, count=len(texts), prompt_tokens=tokens)


@pytest.mark.parametrize(("count", "sizes"), [(100, [100]), (101, [100, 1]), (250, [100, 100, 50])])
def test_batches_of_a_hundred(count: int, sizes: list[int]) -> None:
    texts = [f"t{i}" for i in range(count)]
    batches, _ = embeddings_request_to_gemini({"input": texts}, upstream_model=f"models/{MODEL}")
    assert [len(b["requests"]) for b in batches] == sizes
    flat = [r["content"]["parts"][0]["text"] for b in batches for r in b["requests"]]
    assert flat == texts
    assert {r["model"] for b in batches for r in b["requests"]} == {f"models/{MODEL}"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x", "body: expected a JSON object"),
        ({}, "input: required"),
        ({"input": []}, "input: expected at least one string"),
        ({"input": ""}, "input: must not be empty"),
        ({"input": ["a", ""]}, "input[1]: must not be empty"),
        ({"input": ["a", 3]}, "input[1]: expected a string"),
        ({"input": [1, 2, 3]}, "input: token arrays are not supported by Gemini; send text"),
        ({"input": [[1, 2], [3]]}, "input: token arrays are not supported by Gemini; send text"),
        ({"input": 5}, "input: expected a string or a list of strings"),
        ({"input": "a", "dimensions": 0}, "dimensions: must be at least 1"),
        ({"input": "a", "dimensions": "8"}, "dimensions: expected an integer"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format: expected float or base64"),
    ],
)
def test_bad_requests(body: Any, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        embeddings_request_to_gemini(body, upstream_model=MODEL)
    assert info.value.message.startswith(message)


def test_float_response_across_batches() -> None:
    plan = EmbedPlan(encoding_format="float", count=3, prompt_tokens=7)
    out = embeddings_response_from_gemini(
        [answer([0.1, 0.2], [0.3, 0.4]), answer([0.5, -0.6])], plan, model="text-embedding-3-small"
    )
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
            {"object": "embedding", "index": 2, "embedding": [0.5, -0.6]},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }


def test_base64_round_trip() -> None:
    values = [0.5, -1.25, 3.0, 0.0078125]  # exact in float32
    plan = EmbedPlan(encoding_format="base64", count=1, prompt_tokens=1)
    out = embeddings_response_from_gemini([answer(values)], plan, model="m")
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == values
    assert raw[:4] == struct.pack("<f", 0.5)


@pytest.mark.parametrize(
    "batches",
    [[answer([1.0])], [answer([1.0], [2.0], [3.0])], [{"embeddings": [{"values": ["x"]}]}], [{}]],
)
def test_wrong_answers(batches: list[dict[str, Any]]) -> None:
    plan = EmbedPlan(encoding_format="float", count=2, prompt_tokens=1)
    with pytest.raises(EmptyAnswer):
        embeddings_response_from_gemini(batches, plan, model="m")


@pytest.mark.parametrize(
    ("model", "owned_by", "expected_id"),
    [
        ({"name": "models/gemini-2.5-flash", "displayName": "x"}, "google", "gemini-2.5-flash"),
        ({"name": "tunedModels/abc"}, "me", "tunedModels/abc"),
        ({}, "google", ""),
    ],
)
def test_model_to_openai(model: dict[str, Any], owned_by: str, expected_id: str) -> None:
    assert model_to_openai(model, owned_by=owned_by) == {
        "id": expected_id,
        "object": "model",
        "created": 0,
        "owned_by": owned_by,
    }


def test_models_to_openai() -> None:
    out = models_to_openai([{"name": "models/a"}, {"name": "models/b"}])
    assert out["object"] == "list" and [m["id"] for m in out["data"]] == ["a", "b"]


@pytest.mark.parametrize("pretty", [True, False])
def test_float_vectors_are_carried_over_without_parsing(pretty: bool) -> None:
    """The byte path gives exactly what the parsing path gives, for Gemini's answers."""
    from gpool.translate import embeddings_bytes_from_gemini

    body = {"input": ["a", "bb", "ccc"], "encoding_format": "float"}
    _, plan = embeddings_request_to_gemini(body, upstream_model="gemini-embedding-001")
    answer = {
        "embeddings": [{"values": [0.5, -1.25e-05, 3]}, {"values": [1, 2, 3]}, {"values": []}]
    }
    raw = json.dumps(answer, indent=2 if pretty else None).encode()
    fast = json.loads(embeddings_bytes_from_gemini([raw], plan, model="m"))
    slow = embeddings_response_from_gemini([answer], plan, model="m")
    assert fast == slow


def test_unexpected_shapes_fall_back_to_parsing() -> None:
    from gpool.translate import embeddings_bytes_from_gemini

    _, plan = embeddings_request_to_gemini({"input": ["a"]}, upstream_model="m")
    odd = b'{"embeddings": [{"values": [1, "x"]}]}'
    with pytest.raises(EmptyAnswer):
        embeddings_bytes_from_gemini([odd], plan, model="m")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"embeddings": [{"values": [1, [2]]}]}',
        b'{"embeddings": [{"values": [1, {"a": 2}]}]}',
        b'{"embeddings": [{"values": [1, null]}]}',
        b'{"embeddings": [{"values": [true]}]}',
        b'{"embeddings": [{"values": [1, NaN]}]}',
        b'{"embeddings": [{"values": [Infinity]}]}',
        b'{"embeddings": [{"values": [1], "norm": 2.5}]}',
        b'{"embeddings": [{"values": [1]}], "extra": [3]}',
        b'{"embeddings": [{"values": [1, 2]}], "note": "\\"values\\": [9]"}',
    ],
)
def test_the_byte_path_gives_what_parsing_gives_for_odd_shapes(raw: bytes) -> None:
    """Each odd answer takes the parsing path: the same answer, or the same refusal."""
    from gpool.translate import embeddings_bytes_from_gemini

    _, plan = embeddings_request_to_gemini({"input": ["a"]}, upstream_model="m")
    try:
        parsed = jsonio.loads(raw)
    except ValueError:  # NaN and Infinity are not JSON
        expected: Any = "Gemini sent an embeddings answer that is not JSON"
    else:
        try:
            expected = embeddings_response_from_gemini([parsed], plan, model="m")
        except EmptyAnswer as exc:
            expected = exc.message
    try:
        got: Any = json.loads(embeddings_bytes_from_gemini([raw], plan, model="m"))
    except EmptyAnswer as exc:
        got = exc.message
    assert got == expected
