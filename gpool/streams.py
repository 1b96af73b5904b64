"""Stream transforms: what the relay does to each upstream chunk, and how it reports a failure.

A transform is pure (bytes in, bytes out) so the relay loop stays the same for every
dialect: the native pass-through only watches for the end of the answer; the OpenAI
transform re-encodes Gemini's events as chat.completion chunks.
"""

from __future__ import annotations

import json
import re
from typing import Protocol

from gpool import jsonio
from gpool.translate import (
    ChatStreamTranslator,
    EmptyAnswer,
    SSEDecoder,
    UpstreamStreamError,
    sse_event,
)

__all__ = ["GeminiStream", "OpenAIChatStream", "StreamIncomplete", "StreamTransform", "TokenTap"]


class StreamIncomplete(Exception):
    """The upstream answer ended, or reported an error, before it was complete."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamTransform(Protocol):
    @property
    def same_bytes(self) -> bool:
        """The client gets the upstream's bytes unchanged (so Content-Length still holds)."""

    @property
    def tokens(self) -> int | None:
        """The answer's total token count once known, for tokens-per-minute limits."""

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to send the client for one upstream chunk (may be empty)."""

    def finish(self) -> bytes:
        """Bytes that close a complete answer; raises ``StreamIncomplete`` if it was cut."""

    def error_frame(self, message: str) -> bytes:
        """An error in the stream's own framing, sent after a failure."""


# Bytes that end a native stream properly: a finishReason, or an error the upstream reported
# itself (an SSE error event, or an error element of the JSON array, pretty-printed).
_ENDINGS = (b'"finishReason"', b'data: {"error"', b'{\n  "error"')
_CUT = "gpool: the upstream stream ended before the answer was finished"
_TOTAL = re.compile(rb'"totalTokenCount": ?(\d+)')


class TokenTap:
    """Native unary pass-through that notes the answer's totalTokenCount on the way."""

    same_bytes = True

    def __init__(self) -> None:
        self.tokens: int | None = None
        self._last = b""

    def feed(self, chunk: bytes) -> bytes:
        # The count sits near the end; a window over the chunk seam catches a split one.
        for match in _TOTAL.finditer(self._last[-32:] + chunk):
            self.tokens = int(match.group(1))
        self._last = chunk
        return chunk

    def finish(self) -> bytes:
        return b""

    def error_frame(self, message: str) -> bytes:
        return b""


class GeminiStream:
    """Native pass-through: bytes go out untouched; a stream with no end is reported."""

    same_bytes = True

    def __init__(self, *, sse: bool, count_tokens: bool = False) -> None:
        self._sse = sse
        self._finished = False
        self._last = b""  # the latest chunk, to find a marker split across two chunks
        self._tap = TokenTap() if count_tokens else None
        self.tokens: int | None = None

    def feed(self, chunk: bytes) -> bytes:
        if not self._finished:
            window = self._last[-16:] + chunk
            self._finished = any(marker in window for marker in _ENDINGS)
        if self._tap is not None:
            self._tap.feed(chunk)
            self.tokens = self._tap.tokens
        self._last = chunk
        return chunk

    def finish(self) -> bytes:
        if not self._finished:
            raise StreamIncomplete(_CUT)
        return b""

    def error_frame(self, message: str) -> bytes:
        """An SSE error event, or an error element that closes the JSON array.

        A stream cut inside an event is closed first, so the client sees a broken event
        and then the error rather than a silently shortened answer.
        """
        error = {"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}}
        last = self._last
        if self._sse:
            prefix = b"" if not last or last.endswith(b"\n\n") else b"\r\n\r\n"
            return prefix + b"data: " + json.dumps(error).encode() + b"\r\n\r\n"
        element = json.dumps(error, indent=2).encode()
        return b"[" + element + b"]" if not last else b"\n,\r\n" + element + b"\n]"


class OpenAIChatStream:
    """Gemini's SSE events in, OpenAI chat.completion chunks out, then ``data: [DONE]``."""

    same_bytes = False

    def __init__(self, translator: ChatStreamTranslator) -> None:
        self._translator = translator
        self._decoder = SSEDecoder()

    @property
    def tokens(self) -> int | None:
        return self._translator.total_tokens

    def feed(self, chunk: bytes) -> bytes:
        return self._translate(self._decoder.decode(chunk))

    def finish(self) -> bytes:
        out = self._translate(self._decoder.flush())
        try:
            chunks = self._translator.finish()
        except EmptyAnswer as exc:
            raise StreamIncomplete(exc.message) from None
        return out + b"".join(sse_event(c) for c in chunks) + sse_event("[DONE]")

    def error_frame(self, message: str) -> bytes:
        error = {"message": message, "type": "api_error", "param": None, "code": "upstream_error"}
        return sse_event({"error": error})

    def _translate(self, events: list[bytes]) -> bytes:
        out: list[bytes] = []
        for data in events:
            try:
                event = jsonio.loads(data)
            except (ValueError, RecursionError):
                raise StreamIncomplete("the upstream sent an event that is not JSON") from None
            try:
                chunks = self._translator.feed(event)
            except (UpstreamStreamError, EmptyAnswer) as exc:
                raise StreamIncomplete(exc.message) from None
            out.extend(sse_event(c) for c in chunks)
        return b"".join(out)
