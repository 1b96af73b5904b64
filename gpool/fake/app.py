"""The fake Gemini upstream's aiohttp app: recording, key faults, routes and streaming."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .caches import add_cache_routes
from .catalog import CATALOG, ModelInfo, list_page, model_json
from .embed import batch_embed, embed_content
from .faults import fault_body, no_key_error, not_found, quota_error
from .files import add_file_routes
from .generate import unary_response
from .keys import fault_of
from .plan import plan_generate
from .projects import FAKE_PROJECTS, Projects, check_references
from .reading import count_tokens, parse_body, pick
from .state import CALL, FAKE_STATE, FakeOptions, FakeState, RecordedCall
from .stream import hang_up, pause, write_stream
from .wire import FakeError, error_body, error_response, html_not_found, json_response, pretty

__all__ = ["create_fake_app"]

_VERSIONS = "v1beta|v1alpha|v1"
_VERSION_SET = frozenset(_VERSIONS.split("|"))
_VERBS = frozenset(
    {
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
    }
)
# A verb is served when the model lists it, or lists the method it rides on.
_NEEDS = {
    "streamGenerateContent": "generateContent",
    "countTokens": "generateContent",
    "batchEmbedContents": "embedContent",
}
# The calls Google counts against a generate quota (embeddings have their own: same rule).
_QUOTA_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents"}
)
_FAULT_CODES = {
    "invalid": 400,
    "suspended": 403,
    "rpm": 429,
    "rpd": 429,
    "exhausted": 429,
    "internal": 500,
    "overloaded": 503,
    "flaky": 503,
}
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024 * 1024


def _version_of(path: str) -> str:
    head = path.lstrip("/").split("/", 1)[0]
    return head if head in _VERSION_SET else ""


@web.middleware
async def _record(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Record every call, routed or not; unrouted paths get Google's HTML 404."""
    state = request.app[FAKE_STATE]
    body = await request.read() if request.body_exists else b""
    info = request.match_info
    version = info.get("version")
    model = info.get("model")
    method_name = info.get("verb") or ("get" if model else "list" if version else None)
    call = RecordedCall(
        method=request.method,
        path=request.rel_url.raw_path,
        query=dict(request.query),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        key=request.headers.get("x-goog-api-key") or request.query.get("key") or None,
        model=model,
        api_version=version or _version_of(request.path),
        method_name=method_name,
    )
    if state.options.record:
        state.calls.append(call)
    request[CALL] = call
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return html_not_found(request.path)


def _auth(request: web.Request) -> web.Response | None:
    """No key, or a key that is invalid or suspended: checked before anything else."""
    key = request[CALL].key
    if key is None:
        return error_response(no_key_error())
    fault = fault_of(key)
    if fault in ("invalid", "suspended"):
        return json_response(fault_body(fault, None, None, 0.0), _FAULT_CODES[fault])
    return None


def _resolve(request: web.Request) -> ModelInfo | web.Response:
    """The model named in the path, or the 404 for one that is unknown or lacks the method."""
    call = request[CALL]
    verb = call.method_name or "get"
    model = CATALOG.get(call.model or "")
    if model is None or (verb != "get" and _NEEDS.get(verb, verb) not in model.methods):
        return error_response(not_found(call.model or "", call.api_version, verb))
    return model


async def _faults(request: web.Request) -> web.StreamResponse | None:
    """The key's fault, after auth and the model check: an answer replacing the real one."""
    state = request.app[FAKE_STATE]
    call = request[CALL]
    options = state.options
    key = call.key or ""
    fault = fault_of(key)
    if fault in ("rpm", "rpd", "exhausted", "internal", "overloaded") or (
        fault == "flaky" and state.flaky_fails(key)
    ):
        body = fault_body(fault, call.model, call.method_name, options.rpm_retry_delay)
        return json_response(body, _FAULT_CODES[fault])
    if call.model and call.method_name in _QUOTA_METHODS:
        wait = state.over_quota(key, call.model, time.monotonic())
        if wait is not None:
            err = quota_error("rpm", call.model, call.method_name, wait)
            return json_response(error_body(err.code, err.message, err.details), 429)
    if fault == "slow" and not await pause(request, state, options.slow_delay):
        return hang_up(request)
    if fault == "stalled":
        await pause(request, state, float("inf"))
        return hang_up(request)
    if fault == "cut" and call.method_name != "streamGenerateContent":
        return hang_up(request)
    return None


async def _list_models(request: web.Request) -> web.StreamResponse:
    early = _auth(request) or await _faults(request)
    if early is not None:
        return early
    query = request.query
    size = query.get("pageSize") or query.get("page_size")
    token = query.get("pageToken") or query.get("page_token")
    try:
        return json_response(list_page(size, token))
    except FakeError as err:
        return error_response(err)


async def _get_model(request: web.Request) -> web.StreamResponse:
    denied = _auth(request)
    if denied is not None:
        return denied
    model = _resolve(request)
    if isinstance(model, web.Response):
        return model
    return await _faults(request) or json_response(model_json(model.id) or b"")


def _count(body: dict[str, Any]) -> dict[str, Any]:
    inner = pick(body, "generateContentRequest")
    if isinstance(inner, dict):
        system, tools = pick(inner, "systemInstruction"), pick(inner, "tools")
        total, details = count_tokens(pick(inner, "contents"), system, tools)
    else:
        total, details = count_tokens(pick(body, "contents"))
    return {"totalTokens": total, "promptTokensDetails": details}


async def _model_call(request: web.Request) -> web.StreamResponse:
    verb = request.match_info["verb"]
    if verb not in _VERBS:
        return html_not_found(request.path)
    denied = _auth(request)
    if denied is not None:
        return denied
    model = _resolve(request)
    if isinstance(model, web.Response):
        return model
    early = await _faults(request)
    if early is not None:
        return early
    state = request.app[FAKE_STATE]
    try:
        body = parse_body(request[CALL].body)
        check_references(body, model.id, request[CALL].key or "", request.app[FAKE_PROJECTS])
        if verb == "embedContent":
            return json_response(embed_content(body, model))
        if verb == "batchEmbedContents":
            return json_response(batch_embed(body, model))
        if verb == "countTokens":
            return json_response(pretty(_count(body)))
        plan = plan_generate(body, model)
    except FakeError as err:
        return error_response(err)
    except (TypeError, AttributeError, ValueError, KeyError):
        # A body of the wrong shape: Google's parser would have rejected it.
        return error_response(FakeError(400, "Invalid JSON payload received. Unexpected value."))
    rid = state.next_response_id()
    if verb == "generateContent":
        return json_response(pretty(unary_response(plan, rid)))
    cut = fault_of(request[CALL].key or "") == "cut"
    return await write_stream(request, state, plan, rid, cut=cut)


async def _on_startup(app: web.Application) -> None:
    app[FAKE_STATE].closing = False


async def _on_shutdown(app: web.Application) -> None:
    # Held requests (stalled, slow streams) notice this and hang up, so shutdown is quick.
    app[FAKE_STATE].closing = True


def create_fake_app(
    *,
    chunk_delay: float = 0.0,
    slow_delay: float = 2.0,
    rpm_retry_delay: float = 37.48,
    record: bool = True,
    quota_rpm: int | None = None,
) -> web.Application:
    """Build the fake Gemini upstream; ``app[FAKE_STATE]`` holds what it recorded."""
    options = FakeOptions(
        chunk_delay=chunk_delay,
        slow_delay=slow_delay,
        rpm_retry_delay=rpm_retry_delay,
        record=record,
        quota_rpm=quota_rpm,
    )
    app = web.Application(middlewares=[_record], client_max_size=MAX_BODY)
    app[FAKE_STATE] = FakeState(options=options)
    app[FAKE_PROJECTS] = Projects()
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    prefix = f"/{{version:{_VERSIONS}}}/models"
    app.router.add_get(prefix, _list_models)
    app.router.add_get(prefix + "/{model:[^/:]+}", _get_model)
    app.router.add_post(prefix + "/{model:[^/:]+}:{verb}", _model_call)
    add_file_routes(app, _VERSIONS)
    add_cache_routes(app, _VERSIONS)
    return app
