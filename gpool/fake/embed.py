"""Embeddings: deterministic vectors cut from one precomputed base, rendered as Google does."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from .catalog import ModelInfo
from .faults import invalid_argument
from .reading import pick, text_of

__all__ = ["MAX_BATCH", "batch_embed", "embed_content"]

MAX_BATCH = 100
_BASE_DIMS = 3072


class _Rendered:
    """The base vector as pretty JSON at one indent, twice over, so any rotation is one slice.

    Formatting thousands of floats per request would dominate a benchmark; slicing a
    prebuilt string costs a memcpy.
    """

    def __init__(self, values: list[str], indent: int) -> None:
        self.sep = ",\n" + " " * indent
        doubled = values + values
        self.text = self.sep.join(doubled)
        self.starts = [0] * (len(doubled) + 1)
        pos = 0
        for i, value in enumerate(doubled):
            self.starts[i] = pos
            pos += len(value) + len(self.sep)
        self.starts[-1] = pos

    def cut(self, offset: int, dims: int) -> str:
        return self.text[self.starts[offset] : self.starts[offset + dims] - len(self.sep)]


def _flip(value: str) -> str:
    return value[1:] if value.startswith("-") else "-" + value


_rng = random.Random(20250601)  # noqa: S311 - fixed seed: the vectors must be reproducible
_VALUES = [f"{_rng.gauss(0.0, 0.02):.9f}" for _ in range(_BASE_DIMS)]
# (negated, indent) -> rendering
_RENDERED = {
    (neg, indent): _Rendered([_flip(v) for v in _VALUES] if neg else _VALUES, indent)
    for neg in (False, True)
    for indent in (6, 8)
}


def _vector(text: str, task: Any, dims: int, indent: int) -> str:
    digest = hashlib.blake2b(f"{task}\0{text}".encode(), digest_size=8).digest()
    h = int.from_bytes(digest, "big")
    return _RENDERED[bool(h >> 63), indent].cut(h % _BASE_DIMS, dims)


def _dims(request: Any, model: ModelInfo, where: str) -> int:
    dims = pick(request, "outputDimensionality")
    if dims is None:
        return model.dimensions
    if not isinstance(dims, int) or not 1 <= dims <= model.dimensions:
        raise invalid_argument(
            f"* {where}.output_dimensionality: Output dimensionality must be between 1 and "
            f"{model.dimensions}, got {dims}.\n",
            "output_dimensionality",
        )
    return dims


def _content_text(request: Any, where: str) -> str:
    content = pick(request, "content")
    if not isinstance(content, dict):
        raise invalid_argument(f"* {where}.content: content is not specified\n", "content")
    return text_of(content)


def embed_content(body: dict[str, Any], model: ModelInfo) -> bytes:
    """``embedContent``: ``{"embedding": {"values": [...]}}``, pretty-printed."""
    where = "EmbedContentRequest"
    text = _content_text(body, where)
    vector = _vector(text, pick(body, "taskType"), _dims(body, model, where), 6)
    return f'{{\n  "embedding": {{\n    "values": [\n      {vector}\n    ]\n  }}\n}}'.encode()


def batch_embed(body: dict[str, Any], model: ModelInfo) -> bytes:
    """``batchEmbedContents``: one embedding per request, at most 100 requests."""
    requests = pick(body, "requests")
    if not isinstance(requests, list) or not requests:
        raise invalid_argument(
            "* BatchEmbedContentsRequest.requests: requests is not specified\n", "requests"
        )
    if len(requests) > MAX_BATCH:
        raise invalid_argument(
            "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n",
            "requests",
        )
    name = f"models/{model.id}"
    items = []
    for i, request in enumerate(requests):
        where = f"BatchEmbedContentsRequest.requests[{i}]"
        if pick(request, "model") != name:
            raise invalid_argument(
                f"* {where}.model: the model of every request must be the model of the "
                f"batch ({name}).\n",
                f"requests[{i}].model",
            )
        text = _content_text(request, where)
        vector = _vector(text, pick(request, "taskType"), _dims(request, model, where), 8)
        items.append(f'{{\n      "values": [\n        {vector}\n      ]\n    }}')
    return ('{\n  "embeddings": [\n    ' + ",\n    ".join(items) + "\n  ]\n}").encode()
