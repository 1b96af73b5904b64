"""OpenAI-compatible routes: chat completions, embeddings and models, translated to Gemini."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web
from attrs import frozen

from gpool import jsonio
from gpool.dialect import dialect_of
from gpool.errors import ModelNotFound, UpstreamFailure, UpstreamHTTPError
from gpool.keys import Effect, Verdict
from gpool.relay import relay
from gpool.routes import RouteInfo
from gpool.routes.gemini import get_model, list_models
from gpool.state import (
    BODY,
    CATALOG,
    KEY,
    MEDIA,
    MODEL,
    PREPARED,
    TOKENS,
    UPSTREAM,
    UPSTREAM_MODEL,
)
from gpool.streams import OpenAIChatStream
from gpool.translate import (
    ChatPlan,
    ChatStreamTranslator,
    EmbedPlan,
    EmptyAnswer,
    chat_request_to_gemini,
    chat_response_from_gemini,
    embeddings_bytes_from_gemini,
    embeddings_request_to_gemini,
    model_to_openai,
    remote_image_urls,
)
from gpool.upstream import UpstreamResponse

__all__ = ["ROUTES"]

_JSON = {"Content-Type": "application/json"}
_JSON_TYPE = "application/json"
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_CLIENT_ERROR = Verdict(Effect.NONE, retry=False, reason="client error")


def new_call_id() -> str:
    return "call_" + secrets.token_urlsafe(18)


@frozen
class _PreparedChat:
    plan: ChatPlan
    payload: bytes


async def _prepare_chat(request: web.Request) -> _PreparedChat:
    """Translate once per request: a retry on another key reuses the work."""
    prepared: _PreparedChat | None = request.get(PREPARED)
    if prepared is None:
        body = request[BODY]
        urls = remote_image_urls(body)
        media = await request.app[MEDIA].fetch_all(urls) if urls else {}
        plan = chat_request_to_gemini(body, upstream_model=request[UPSTREAM_MODEL], media=media)
        prepared = _PreparedChat(plan, jsonio.dumps(plan.body))
        request[PREPARED] = prepared
    return prepared


def _refuse(answer: UpstreamResponse) -> UpstreamHTTPError:
    """An upstream answer that is the client's fault, to be told in OpenAI's shape."""
    content_type = answer.headers.get("Content-Type", "application/json")
    return UpstreamHTTPError(answer.status, answer.body or b"", content_type, _CLIENT_ERROR)


def _empty(exc: EmptyAnswer) -> UpstreamFailure:
    return UpstreamFailure(exc.message, Verdict(Effect.NONE, retry=False, reason="empty answer"))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions, unary or streamed."""
    prepared = await _prepare_chat(request)
    plan = prepared.plan
    model = request[UPSTREAM_MODEL]
    method, query = (
        ("streamGenerateContent", [("alt", "sse")]) if plan.stream else ("generateContent", [])
    )
    async with request.app[UPSTREAM].open(
        request[KEY],
        "POST",
        f"/v1beta/models/{model}:{method}",
        query=query,
        headers=_JSON,
        body=prepared.payload,
    ) as answer:
        if answer.body is not None:
            raise _refuse(answer)
        created = int(time.time())
        if plan.stream:
            translator = ChatStreamTranslator(
                model=request[MODEL],
                created=created,
                include_thoughts=plan.include_thoughts,
                include_usage=plan.include_usage,
                id_factory=new_call_id,
                parallel_tool_calls=plan.parallel_tool_calls,
            )
            return await relay(request, answer, OpenAIChatStream(translator), headers=_SSE)
        raw = await answer.raw.read()
    try:
        completion = chat_response_from_gemini(
            jsonio.loads(raw),
            model=request[MODEL],
            created=created,
            include_thoughts=plan.include_thoughts,
            id_factory=new_call_id,
            parallel_tool_calls=plan.parallel_tool_calls,
        )
    except EmptyAnswer as exc:
        raise _empty(exc) from None
    request[TOKENS] = completion["usage"]["total_tokens"]
    return web.Response(body=jsonio.dumps(completion), content_type=_JSON_TYPE, charset="utf-8")


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings: batched upstream at 100 inputs a call, on one key."""
    prepared: tuple[list[dict[str, Any]], EmbedPlan] | None = request.get(PREPARED)
    if prepared is None:
        prepared = embeddings_request_to_gemini(
            request[BODY], upstream_model=request[UPSTREAM_MODEL]
        )
        request[PREPARED] = prepared
    batches, plan = prepared
    path = f"/v1beta/models/{request[UPSTREAM_MODEL]}:batchEmbedContents"
    answers = []
    for batch in batches:
        async with request.app[UPSTREAM].open(
            request[KEY], "POST", path, headers=_JSON, body=jsonio.dumps(batch)
        ) as answer:
            if answer.body is not None:
                raise _refuse(answer)
            answers.append(await answer.raw.read())
    try:
        body = embeddings_bytes_from_gemini(answers, plan, model=request[MODEL])
    except EmptyAnswer as exc:
        raise _empty(exc) from None
    return web.Response(body=body, content_type=_JSON_TYPE, charset="utf-8")


async def models(request: web.Request) -> web.Response:
    """GET /v1/models: OpenAI's list, or Gemini's for callers that speak Gemini."""
    if dialect_of(request) == "google":
        return await list_models(request)
    visible = await request.app[CATALOG].visible_models()
    return web.json_response({"object": "list", "data": [model_to_openai(m) for m in visible]})


async def model(request: web.Request) -> web.Response:
    """GET /v1/models/{model}, in whichever shape the caller speaks."""
    if dialect_of(request) == "google":
        return await get_model(request)
    wanted = f"models/{request[MODEL]}"
    for entry in await request.app[CATALOG].visible_models():
        if entry.get("name") == wanted:
            return web.json_response(model_to_openai(entry))
    raise ModelNotFound(f"The model '{request[MODEL]}' does not exist.", param="model")


_KEYED = RouteInfo("openai", keyed=True, model_from="body")
ROUTES = (
    ("openai.chat", "POST", "/v1/chat/completions", chat_completions, _KEYED),
    ("openai.embeddings", "POST", "/v1/embeddings", embeddings, _KEYED),
    ("openai.models", "GET", "/v1/models", models, RouteInfo("auto")),
    (
        "openai.model",
        "GET",
        "/v1/models/{model:[^/:]+}",
        model,
        RouteInfo("auto", model_from="path"),
    ),
)
