"""Pure OpenAI <-> Gemini translation (chat, embeddings, models): no I/O, clocks or randomness."""

from __future__ import annotations

from ._embeddings import (
    MAX_BATCH,
    EmbedPlan,
    embeddings_bytes_from_gemini,
    embeddings_request_to_gemini,
    embeddings_response_from_gemini,
)
from ._errors import EmptyAnswer, UpstreamStreamError
from ._media import FetchedMedia, remote_image_urls
from ._models import model_to_openai, models_to_openai
from ._request import ChatPlan, chat_request_to_gemini
from ._response import chat_response_from_gemini
from ._sse import SSEDecoder, sse_event
from ._stream import ChatStreamTranslator

__all__ = [
    "MAX_BATCH",
    "ChatPlan",
    "ChatStreamTranslator",
    "EmbedPlan",
    "EmptyAnswer",
    "FetchedMedia",
    "SSEDecoder",
    "UpstreamStreamError",
    "chat_request_to_gemini",
    "chat_response_from_gemini",
    "embeddings_bytes_from_gemini",
    "embeddings_request_to_gemini",
    "embeddings_response_from_gemini",
    "model_to_openai",
    "models_to_openai",
    "remote_image_urls",
    "sse_event",
]
