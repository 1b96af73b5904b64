"""The translation layer's own errors: an unusable upstream answer, and a mid-stream error."""

from __future__ import annotations

__all__ = ["EmptyAnswer", "UpstreamStreamError"]


class EmptyAnswer(Exception):
    """Gemini answered, but with nothing a client can use (no content, a cut stream, …)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamStreamError(Exception):
    """Gemini reported an error inside a stream (``{"error": {...}}``) after it had begun."""

    def __init__(self, message: str, code: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
