"""Gemini Model objects as OpenAI model objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._util import JSON, pick

__all__ = ["model_to_openai", "models_to_openai"]


def model_to_openai(model: Any, *, owned_by: str = "google") -> JSON:
    """``{"name": "models/x", ...}`` -> ``{"id": "x", "object": "model", ...}``.

    Gemini gives no creation time; 0 is what OpenAI-compatible servers commonly send.
    """
    name = pick(model, "name")
    name = name if isinstance(name, str) else ""
    return {
        "id": name.removeprefix("models/"),
        "object": "model",
        "created": 0,
        "owned_by": owned_by,
    }


def models_to_openai(models: Iterable[Any], *, owned_by: str = "google") -> JSON:
    """A whole list, as ``GET /v1/models`` answers."""
    return {"object": "list", "data": [model_to_openai(m, owned_by=owned_by) for m in models]}
