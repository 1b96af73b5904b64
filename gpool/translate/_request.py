"""An OpenAI chat completion request as a Gemini GenerateContentRequest, with its plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from gpool.errors import BadRequest

from ._media import FetchedMedia
from ._messages import convert_messages
from ._params import generation_config, google_extra, thinking_config, tool_fields
from ._util import JSON, optional_bool, type_name

__all__ = ["ChatPlan", "chat_request_to_gemini"]

_NO_MEDIA: Mapping[str, FetchedMedia] = {}


@attrs.frozen(kw_only=True)
class ChatPlan:
    """What to send upstream, and what the response side needs to know about the request."""

    body: dict[str, Any]  # the Gemini GenerateContentRequest, camelCase keys
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage
    include_thoughts: bool = False  # the client asked for reasoning_content
    tool_names: dict[str, str] = attrs.field(factory=dict)  # tool_call_id -> function name
    # parallel_tool_calls: false. Gemini has no such switch, so the answer keeps the first call.
    parallel_tool_calls: bool = True


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, Mapping):
        raise BadRequest(f"stream_options: expected an object, got {type_name(options)}")
    return bool(optional_bool(options, "include_usage"))


def chat_request_to_gemini(
    body: Any, *, upstream_model: str, media: Mapping[str, FetchedMedia] = _NO_MEDIA
) -> ChatPlan:
    """Translate and validate; every field the client did not set is left to Gemini.

    Dropped quietly, having no Gemini equivalent: user, metadata, store, service_tier,
    parallel_tool_calls, logit_bias, prediction, modalities, audio, and unknown keys.
    """
    if not isinstance(body, Mapping):
        raise BadRequest(f"body: expected a JSON object, got {type_name(body)}")
    stream = bool(optional_bool(body, "stream"))
    conversation = convert_messages(body.get("messages"), media)
    if upstream_model.startswith("gemini-3"):
        _sign_unsigned_calls(conversation.contents)
    request: JSON = {"contents": conversation.contents}
    if conversation.system:
        request["systemInstruction"] = {"parts": conversation.system}
    request.update(tool_fields(body))
    config = generation_config(body)
    google, where = google_extra(body)
    thinking, include_thoughts = thinking_config(body, google, where, upstream_model)
    if thinking:
        config["thinkingConfig"] = thinking
    if config:
        request["generationConfig"] = config
    cached = google.get("cached_content", google.get("cachedContent"))
    if cached is not None:
        if not isinstance(cached, str) or not cached:
            raise BadRequest(f"{where}.cached_content: expected a non-empty string")
        request["cachedContent"] = cached
    return ChatPlan(
        body=request,
        stream=stream,
        include_usage=_include_usage(body),
        include_thoughts=include_thoughts,
        tool_names=conversation.tool_names,
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls") is not False,
    )


#: Google's documented stand-in for a signature that was lost on the way (for example by a
#: client that drops unknown fields such as tool_calls[].extra_content).
SKIP_SIGNATURE = "skip_thought_signature_validator"


def _sign_unsigned_calls(contents: list[JSON]) -> None:
    """Gemini 3 rejects a model turn whose first function call has no thought signature.

    Clients that keep ``extra_content`` send the real signature back and are untouched;
    for the others, the first call of each such turn gets Google's documented stand-in.
    """
    for content in contents:
        if content.get("role") != "model":
            continue
        calls = [p for p in content.get("parts", []) if "functionCall" in p]
        if calls and "thoughtSignature" not in calls[0]:
            calls[0]["thoughtSignature"] = SKIP_SIGNATURE
