"""The scenarios: what each target is sent, how its answer is checked, and the targets to meet.

gpool and the floor are asked for the same upstream work. The floor cannot translate, so
in an OpenAI scenario it forwards the equivalent *native* request: the floor's cost of
moving the same upstream answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from load import RequestSpec

from gpool.fake import fake_key

__all__ = [
    "EMBED_BATCH",
    "HELD_MAX_MB",
    "HELD_MAX_RATIO",
    "LEAK_MAX_RSS_MB",
    "SCENARIOS",
    "STREAM_CHUNKS",
    "TOKEN",
    "TTFB_MAX_ADDED_MS",
    "Scenario",
    "held_spec",
    "leak_specs",
    "upstream_keys",
]

MODEL = "gemini-2.5-flash"
EMBED_MODEL = "gemini-embedding-001"
TOKEN = "sk-bench"  # noqa: S105 - a client token for the local benchmark only
STREAM_CHUNKS = 20
EMBED_BATCH = 64
PROMPT = "Write a two-line greeting for a benchmark run."

TTFB_MAX_ADDED_MS = 0.5
HELD_MAX_RATIO = 1.5
HELD_MAX_MB = 150.0
LEAK_MAX_RSS_MB = 10.0

Check = Callable[[bytes], str | None]


def upstream_keys(count: int = 4) -> list[str]:
    """Healthy fake keys for gpool's pool, so key selection has real work to do."""
    return [fake_key("ok", i) for i in range(1, count + 1)]


_GPOOL_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
_FLOOR_HEADERS = {"x-goog-api-key": fake_key("ok", 1), "Content-Type": "application/json"}


def _native_body(text: str) -> bytes:
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]}).encode()


def _chat_body(text: str, *, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def _inputs(n: int) -> list[str]:
    return [f"benchmark sentence number {i}, to be embedded" for i in range(n)]


def _embed_body(n: int) -> bytes:
    return json.dumps({"model": EMBED_MODEL, "input": _inputs(n)}).encode()


def _batch_body(n: int) -> bytes:
    name = f"models/{EMBED_MODEL}"
    requests = [{"model": name, "content": {"parts": [{"text": t}]}} for t in _inputs(n)]
    return json.dumps({"requests": requests}).encode()


def _sse_data(body: bytes) -> list[bytes]:
    return [line[6:] for line in body.splitlines() if line.startswith(b"data: ")]


def _check_native_unary(body: bytes) -> str | None:
    reason = json.loads(body)["candidates"][0].get("finishReason")
    return None if reason == "STOP" else f"finishReason {reason!r}"


def _check_native_stream(body: bytes) -> str | None:
    events = _sse_data(body)
    if len(events) != STREAM_CHUNKS:
        return f"{len(events)} events, expected {STREAM_CHUNKS}"
    return None if b'"finishReason"' in events[-1] else "no finishReason at the end"


def _check_chat_unary(body: bytes) -> str | None:
    answer = json.loads(body)
    content = answer["choices"][0]["message"]["content"]
    return None if answer["object"] == "chat.completion" and content else "no content"


def _check_chat_stream(body: bytes) -> str | None:
    events = _sse_data(body)
    if not events or events[-1].strip() != b"[DONE]":
        return "no data: [DONE] at the end"
    content = sum(1 for e in events[:-1] if b'"content"' in e)
    return None if content >= STREAM_CHUNKS else f"{content} content chunks"


def _check_embeddings(body: bytes) -> str | None:
    answer = json.loads(body)
    vectors = answer.get("data") or answer.get("embeddings") or []
    return None if len(vectors) == EMBED_BATCH else f"{len(vectors)} vectors"


@dataclass(frozen=True)
class Scenario:
    """One kind of request, sent to gpool and to the floor."""

    name: str
    title: str
    stream: bool
    max_cpu_ratio: float
    gpool_path: str
    gpool_body: bytes
    floor_path: str
    floor_body: bytes
    check_gpool: Check
    check_floor: Check
    floor_note: str = "the same request"

    def spec(self, target: str, base_url: str) -> RequestSpec:
        if target.startswith("gpool"):
            return RequestSpec(
                base_url + self.gpool_path, self.gpool_body, _GPOOL_HEADERS, stream=self.stream
            )
        return RequestSpec(
            base_url + self.floor_path, self.floor_body, _FLOOR_HEADERS, stream=self.stream
        )

    def check(self, target: str, body: bytes) -> str | None:
        """Why this answer is not what the scenario asked for, or None."""
        try:
            return (self.check_gpool if target.startswith("gpool") else self.check_floor)(body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"unreadable answer ({exc!r}): {body[:200]!r}"


_UNARY = f"/v1beta/models/{MODEL}:generateContent"
_STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
_STREAM_PROMPT = f"{PROMPT} [chunks={STREAM_CHUNKS}]"
_NATIVE_NOTE = "the equivalent native request"

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="native-unary",
            title="native generateContent",
            stream=False,
            max_cpu_ratio=1.25,
            gpool_path=_UNARY,
            gpool_body=_native_body(PROMPT),
            floor_path=_UNARY,
            floor_body=_native_body(PROMPT),
            check_gpool=_check_native_unary,
            check_floor=_check_native_unary,
        ),
        Scenario(
            name="native-stream",
            title=f"native streamGenerateContent?alt=sse, {STREAM_CHUNKS} chunks",
            stream=True,
            max_cpu_ratio=1.25,
            gpool_path=_STREAM,
            gpool_body=_native_body(_STREAM_PROMPT),
            floor_path=_STREAM,
            floor_body=_native_body(_STREAM_PROMPT),
            check_gpool=_check_native_stream,
            check_floor=_check_native_stream,
        ),
        Scenario(
            name="openai-unary",
            title="OpenAI chat completion, unary",
            stream=False,
            max_cpu_ratio=1.6,
            gpool_path="/v1/chat/completions",
            gpool_body=_chat_body(PROMPT, stream=False),
            floor_path=_UNARY,
            floor_body=_native_body(PROMPT),
            check_gpool=_check_chat_unary,
            check_floor=_check_native_unary,
            floor_note=_NATIVE_NOTE,
        ),
        Scenario(
            name="openai-stream",
            title=f"OpenAI chat completion, streamed, {STREAM_CHUNKS} chunks",
            stream=True,
            max_cpu_ratio=1.8,
            gpool_path="/v1/chat/completions",
            gpool_body=_chat_body(_STREAM_PROMPT, stream=True),
            floor_path=_STREAM,
            floor_body=_native_body(_STREAM_PROMPT),
            check_gpool=_check_chat_stream,
            check_floor=_check_native_stream,
            floor_note=_NATIVE_NOTE,
        ),
        Scenario(
            name="openai-embed",
            title=f"OpenAI embeddings, a batch of {EMBED_BATCH}",
            stream=False,
            # An OpenAI unary call, so it is held to the OpenAI-unary target.
            max_cpu_ratio=1.6,
            gpool_path="/v1/embeddings",
            gpool_body=_embed_body(EMBED_BATCH),
            floor_path=f"/v1beta/models/{EMBED_MODEL}:batchEmbedContents",
            floor_body=_batch_body(EMBED_BATCH),
            check_gpool=_check_embeddings,
            check_floor=_check_embeddings,
            floor_note="the equivalent native batchEmbedContents request",
        ),
    )
}


def held_spec(target: str, base_url: str, chunks: int, delay_ms: int) -> RequestSpec:
    """A native SSE stream that stays open about ``(chunks - 1) * delay_ms``."""
    path = _STREAM
    body = _native_body(f"{PROMPT} [chunks={chunks}][delay_ms={delay_ms}]")
    headers = _GPOOL_HEADERS if target == "gpool" else _FLOOR_HEADERS
    return RequestSpec(base_url + path, body, headers, stream=True)


def leak_specs(base_url: str) -> list[RequestSpec]:
    """gpool's request mix for the leak check, in the proportions sent.

    Besides the happy paths it has refusals (a wrong token, an unknown model) and
    clients that hang up mid-stream, where leaks tend to hide. The embeddings batch is
    small so the 100,000 requests fit in a few minutes.
    """
    unary, stream, chat, chat_stream, embed = (
        SCENARIOS[n].spec("gpool", base_url)
        for n in ("native-unary", "native-stream", "openai-unary", "openai-stream", "openai-embed")
    )
    small_embed = RequestSpec(embed.url, _embed_body(2), embed.headers)
    bad_token = RequestSpec(
        unary.url,
        unary.body,
        {**_GPOOL_HEADERS, "Authorization": "Bearer sk-wrong"},
        expect_status=401,
    )
    unknown_model = RequestSpec(
        base_url + "/v1beta/models/gemini-0-nonexistent:generateContent",
        unary.body,
        _GPOOL_HEADERS,
        expect_status=404,
    )
    hang_ups = [
        RequestSpec(s.url, s.body, s.headers, stream=True, hang_up_after_first=True)
        for s in (stream, chat_stream)
    ]
    return [
        *([unary, chat] * 6),
        *([stream, chat_stream] * 3),
        small_embed,
        bad_token,
        unknown_model,
        *hang_ups,
    ]
