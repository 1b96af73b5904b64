"""OpenAI embeddings requests as Gemini batchEmbedContents calls, and back."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

import attrs

from gpool import jsonio
from gpool.errors import BadRequest

from ._errors import EmptyAnswer
from ._util import JSON, is_int, is_number, optional_int, pick, type_name

__all__ = [
    "MAX_BATCH",
    "EmbedPlan",
    "embeddings_bytes_from_gemini",
    "embeddings_request_to_gemini",
    "embeddings_response_from_gemini",
]

MAX_BATCH = 100  # Gemini's limit of requests in one batchEmbedContents call
_FORMATS = ("float", "base64")


@attrs.frozen(kw_only=True)
class EmbedPlan:
    encoding_format: str  # "float" or "base64"
    count: int  # how many inputs, so how many vectors must come back
    prompt_tokens: int  # estimated: Gemini's embedding answers carry no token counts


def _inputs(value: Any) -> list[str]:
    if value is None:
        raise BadRequest("input: required")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise BadRequest(f"input: expected a string or a list of strings, got {type_name(value)}")
    if not value:
        raise BadRequest("input: expected at least one string")
    if all(is_int(v) or isinstance(v, list) for v in value):
        raise BadRequest("input: token arrays are not supported by Gemini; send text")
    for i, text in enumerate(value):
        where = "input" if len(value) == 1 and isinstance(text, str) else f"input[{i}]"
        if not isinstance(text, str):
            raise BadRequest(f"{where}: expected a string, got {type_name(text)}")
        if not text:
            raise BadRequest(f"{where}: must not be empty")
    return value


def embeddings_request_to_gemini(body: Any, *, upstream_model: str) -> tuple[list[JSON], EmbedPlan]:
    """batchEmbedContents bodies of at most 100 requests each, in input order."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"body: expected a JSON object, got {type_name(body)}")
    texts = _inputs(body.get("input"))
    dimensions = optional_int(body, "dimensions", minimum=1)
    encoding = body.get("encoding_format")
    encoding = "float" if encoding is None else encoding
    if encoding not in _FORMATS:
        raise BadRequest(f"encoding_format: expected float or base64, got {encoding!r}")
    name = "models/" + upstream_model.removeprefix("models/")
    requests: list[JSON] = []
    for text in texts:
        request: JSON = {"model": name, "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            request["outputDimensionality"] = dimensions
        requests.append(request)
    batches = [
        {"requests": requests[i : i + MAX_BATCH]} for i in range(0, len(requests), MAX_BATCH)
    ]
    # Gemini reports no token counts for embeddings: estimate four characters a token.
    tokens = sum(-(-len(text) // 4) for text in texts)
    plan = EmbedPlan(encoding_format=encoding, count=len(texts), prompt_tokens=tokens)
    return batches, plan


def _vectors(batches: list[Any]) -> list[list[float]]:
    vectors = []
    for batch in batches:
        embeddings = pick(batch, "embeddings")
        for embedding in embeddings if isinstance(embeddings, list) else []:
            values = pick(embedding, "values")
            if not isinstance(values, list) or not all(is_number(v) for v in values):
                raise EmptyAnswer("Gemini sent an embedding without numeric values")
            vectors.append(values)
    return vectors


def embeddings_response_from_gemini(batches: list[Any], plan: EmbedPlan, *, model: str) -> JSON:
    """OpenAI's list of embeddings; base64 is little-endian float32, as OpenAI sends it."""
    vectors = _vectors(batches)
    if len(vectors) != plan.count:
        raise EmptyAnswer(f"Gemini sent {len(vectors)} embeddings for {plan.count} inputs")
    data = []
    for i, values in enumerate(vectors):
        embedding: list[float] | str = values
        if plan.encoding_format == "base64":
            packed = struct.pack(f"<{len(values)}f", *values)
            embedding = base64.b64encode(packed).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = plan.prompt_tokens
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


_NUMERIC = b"0123456789.eE+-,: \n\r\t[]"
# In valid JSON, anything but a number inside an array starts with one of these; N and I
# start NaN and Infinity, which some encoders write though JSON has no such numbers.
_NOT_A_NUMBER = (b'"', b"{", b"[", b"t", b"f", b"n", b"N", b"I")


def _raw_vectors(body: bytes) -> list[memoryview] | None:
    """Views of each ``"values": [...]`` array's text, if the body is nothing but those.

    Inside each array, a byte search per character that could start a string, object,
    array, true, false, null, NaN or Infinity finds anything that is not a number (a
    memchr each: a 4 MB answer is checked in about two milliseconds). Numbers are passed
    on as Google wrote them. Outside them, what is left once
    numbers, brackets and separators are deleted must be the bare skeleton of Gemini's
    answer. Anything else (a field we do not know, a string) takes the parsing path.
    """
    view, vectors, outside, pos = memoryview(body), [], [], 0
    while (key := body.find(b'"values"', pos)) >= 0:
        start = body.find(b"[", key)
        end = body.find(b"]", start) + 1
        if start < 0 or end == 0:
            return None
        if any(body.find(c, start + 1, end - 1) >= 0 for c in _NOT_A_NUMBER):
            return None
        outside.append(body[pos:start])
        vectors.append(view[start:end])
        pos = end
    outside.append(body[pos:])
    skeleton = (b'{"embeddings"' + b'{"values"}' * len(vectors) + b"}").translate(None, _NUMERIC)
    if b"".join(outside).translate(None, _NUMERIC) != skeleton:
        return None
    return vectors


def embeddings_bytes_from_gemini(bodies: list[bytes], plan: EmbedPlan, *, model: str) -> bytes:
    """``embeddings_response_from_gemini`` for float vectors, without parsing the floats.

    A batch of 64 vectors of 3072 numbers is megabytes of JSON: decoding and re-encoding
    every float cost over 100 ms a request, so the arrays' text is carried over as it is.
    Anything that does not look exactly like Gemini's answer takes the parsing path.
    """
    found = [_raw_vectors(body) for body in bodies] if plan.encoding_format == "float" else []
    if not found or any(v is None for v in found):
        return _dumps(
            embeddings_response_from_gemini([_loads(b) for b in bodies], plan, model=model)
        )
    vectors = [vector for batch in found if batch is not None for vector in batch]
    if len(vectors) != plan.count:
        raise EmptyAnswer(f"Gemini sent {len(vectors)} embeddings for {plan.count} inputs")
    parts: list[bytes | memoryview] = []
    for i, vector in enumerate(vectors):
        parts += [b'{"object":"embedding","index":%d,"embedding":' % i, vector, b"},"]
    parts[-1] = b"}"
    data = b"".join(parts)
    tail = {
        "model": model,
        "usage": {"prompt_tokens": plan.prompt_tokens, "total_tokens": plan.prompt_tokens},
    }
    return b'{"object":"list","data":[' + data + b"]," + _dumps(tail)[1:]


def _loads(body: bytes) -> Any:
    try:
        return jsonio.loads(body)
    except ValueError:
        raise EmptyAnswer("Gemini sent an embeddings answer that is not JSON") from None


def _dumps(value: Any) -> bytes:
    return jsonio.dumps(value)
