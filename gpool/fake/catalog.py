"""The fake's model catalog, with Model objects and list pages rendered once."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import attrs

from .faults import invalid_argument
from .wire import pretty

__all__ = ["CATALOG", "ModelInfo", "list_page", "model_json"]

_CHAT = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
_PLAIN = ("generateContent", "countTokens")
_EMBED = ("embedContent", "batchEmbedContents", "countTokens", "countTextTokens")
_M = 1_048_576


@attrs.frozen(kw_only=True)
class ModelInfo:
    """One model the fake serves, and the traits its behaviour depends on."""

    id: str
    version: str
    display_name: str
    description: str
    input_limit: int
    output_limit: int
    methods: tuple[str, ...]
    kind: str = "text"  # text, tts, image, embed, imagen, gemma
    thinking: bool = False
    thinking_default: bool = True  # whether it thinks when the request says nothing
    thinking_required: bool = False  # rejects thinkingBudget 0
    gemini3: bool = False
    top_k: int | None = 64
    dimensions: int = 0

    @property
    def sampling(self) -> bool:
        return self.kind not in ("embed", "imagen")

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "name": f"models/{self.id}",
            "version": self.version,
            "displayName": self.display_name,
            "description": self.description,
            "inputTokenLimit": self.input_limit,
            "outputTokenLimit": self.output_limit,
            "supportedGenerationMethods": list(self.methods),
        }
        if self.sampling:
            obj["temperature"] = 1.0
            obj["topP"] = 0.95
            if self.top_k is not None:
                obj["topK"] = self.top_k
            obj["maxTemperature"] = 2.0
        if self.thinking:
            obj["thinking"] = True
        return obj


def _gemini(mid: str, name: str, version: str, **kw: Any) -> ModelInfo:
    kw.setdefault("input_limit", _M)
    kw.setdefault("output_limit", 65536)
    kw.setdefault("methods", _CHAT)
    desc = kw.pop("description", f"{name}, a multimodal model from the Gemini family.")
    return ModelInfo(id=mid, version=version, display_name=name, description=desc, **kw)


_MODELS = [
    _gemini(
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        "001",
        thinking=True,
        description="Stable version of Gemini 2.5 Flash, our mid-size multimodal model that "
        "supports up to 1 million tokens, released in June of 2025.",
    ),
    _gemini("gemini-2.5-pro", "Gemini 2.5 Pro", "2.5", thinking=True, thinking_required=True),
    _gemini(
        "gemini-2.5-flash-lite",
        "Gemini 2.5 Flash-Lite",
        "001",
        thinking=True,
        thinking_default=False,
    ),
    _gemini("gemini-2.0-flash", "Gemini 2.0 Flash", "2.0", output_limit=8192, top_k=40),
    _gemini("gemini-2.0-flash-001", "Gemini 2.0 Flash 001", "2.0", output_limit=8192, top_k=40),
    _gemini("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", "2.0", output_limit=8192, top_k=40),
    _gemini(
        "gemini-3-pro-preview",
        "Gemini 3 Pro Preview",
        "3-pro-preview-11-2025",
        thinking=True,
        thinking_required=True,
        gemini3=True,
    ),
    _gemini(
        "gemini-3-flash-preview",
        "Gemini 3 Flash Preview",
        "3-flash-preview-12-2025",
        thinking=True,
        gemini3=True,
    ),
    _gemini("gemini-flash-latest", "Gemini Flash Latest", "Gemini Flash Latest", thinking=True),
    _gemini("gemini-pro-latest", "Gemini Pro Latest", "Gemini Pro Latest", thinking=True),
    _gemini(
        "gemini-2.5-flash-preview-tts",
        "Gemini 2.5 Flash Preview TTS",
        "gemini-2.5-flash-exp-tts-2025-05-19",
        kind="tts",
        input_limit=8192,
        output_limit=16384,
        methods=("countTokens", "generateContent", "batchGenerateContent"),
    ),
    _gemini(
        "gemini-2.5-pro-preview-tts",
        "Gemini 2.5 Pro Preview TTS",
        "gemini-2.5-pro-preview-tts-2025-05-19",
        kind="tts",
        input_limit=8192,
        output_limit=16384,
        methods=("countTokens", "generateContent", "batchGenerateContent"),
    ),
    _gemini(
        "gemini-2.5-flash-image",
        "Nano Banana",
        "2.0",
        kind="image",
        input_limit=32768,
        output_limit=32768,
        methods=(*_PLAIN, "batchGenerateContent"),
    ),
    _gemini(
        "gemma-3-27b-it",
        "Gemma 3 27B",
        "001",
        kind="gemma",
        input_limit=131072,
        output_limit=8192,
        methods=_PLAIN,
        description="",
    ),
    _gemini(
        "gemma-3-4b-it",
        "Gemma 3 4B",
        "001",
        kind="gemma",
        input_limit=32768,
        output_limit=8192,
        methods=_PLAIN,
        description="",
    ),
    _gemini(
        "gemini-embedding-001",
        "Gemini Embedding 001",
        "001",
        kind="embed",
        input_limit=2048,
        output_limit=1,
        methods=_EMBED,
        dimensions=3072,
        description="Obtain a distributed representation of a text.",
    ),
    _gemini(
        "text-embedding-004",
        "Text Embedding 004",
        "004",
        kind="embed",
        input_limit=2048,
        output_limit=1,
        methods=("embedContent", "batchEmbedContents", "countTextTokens"),
        dimensions=768,
        description="Obtain a distributed representation of a text.",
    ),
    _gemini(
        "imagen-4.0-generate-001",
        "Imagen 4",
        "001",
        kind="imagen",
        input_limit=480,
        output_limit=8192,
        methods=("predict",),
        description="Vertex served Imagen 4.0 model",
    ),
]

CATALOG: dict[str, ModelInfo] = {m.id: m for m in _MODELS}
_ORDER = [m.id for m in _MODELS]
_MODEL_JSON: dict[str, bytes] = {m.id: pretty(m.to_json()).encode() for m in _MODELS}
DEFAULT_PAGE = 50
MAX_PAGE = 1000


def model_json(model_id: str) -> bytes | None:
    """The pretty Model object for ``GET /{v}/models/{id}``, or None if unknown."""
    return _MODEL_JSON.get(model_id)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"fake-models:{offset}".encode()).decode()


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_argument("Invalid page token.") from None
    if prefix != "fake-models" or not 0 <= offset <= len(_ORDER):
        raise invalid_argument("Invalid page token.")
    return offset


def list_page(page_size: str | None, page_token: str | None) -> bytes:
    """One page of ``ListModels``; raises FakeError on a bad size or token."""
    size = DEFAULT_PAGE
    if page_size:
        try:
            size = int(page_size)
        except ValueError:
            raise invalid_argument(
                f"Invalid value at 'page_size' (TYPE_INT32), \"{page_size}\"", "page_size"
            ) from None
        if size <= 0:
            size = DEFAULT_PAGE
        size = min(size, MAX_PAGE)
    start = _offset(page_token) if page_token else 0
    end = start + size
    page: dict[str, Any] = {"models": [CATALOG[mid].to_json() for mid in _ORDER[start:end]]}
    if end < len(_ORDER):
        page["nextPageToken"] = _token(end)
    return pretty(page).encode()
