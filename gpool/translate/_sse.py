"""Server-sent events: an incremental decoder of ``data:`` payloads, and the encoder."""

from __future__ import annotations

import re
from typing import Any

from gpool import jsonio

__all__ = ["SSEDecoder", "sse_event"]

_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEDecoder:
    """Bytes in any pieces -> each complete event's data (its ``data:`` lines joined by ``\\n``).

    Lines may end in ``\\r\\n``, ``\\n`` or ``\\r``, and a chunk may end between ``\\r`` and
    ``\\n``. Comments and the ``event``, ``id`` and ``retry`` fields are ignored. Each chunk
    is scanned once, so a long event split into many chunks costs linear time.
    """

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the current line, not yet ended
        self._data: list[bytes] = []  # the current event's data lines
        self._skip_lf = False  # the last chunk ended in "\r": a leading "\n" belongs to it

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not line:
            if self._data:
                events.append(b"\n".join(self._data))
                self._data = []
            return
        if line.startswith(b":"):
            return
        field, _, value = line.partition(b":")
        if field == b"data":
            self._data.append(value[1:] if value.startswith(b" ") else value)

    def decode(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if not chunk:
            return []
        self._skip_lf = chunk.endswith(b"\r")
        pieces = _LINE_END.split(chunk)
        if len(pieces) == 1:
            self._partial.append(chunk)
            return []
        events: list[bytes] = []
        self._line(b"".join([*self._partial, pieces[0]]), events)
        for line in pieces[1:-1]:
            self._line(line, events)
        self._partial = [pieces[-1]] if pieces[-1] else []
        return events

    def flush(self) -> list[bytes]:
        """At the end of the bytes: an event whose lines all ended, though no blank line did.

        A line cut short is dropped: it can only be a truncated payload.
        """
        self._partial = []
        self._skip_lf = False
        events: list[bytes] = []
        self._line(b"", events)
        return events


def sse_event(data: dict[str, Any] | str) -> bytes:
    """``data: <compact json>\\n\\n``; a string (``"[DONE]"``) is sent as it is."""
    payload = data.encode() if isinstance(data, str) else jsonio.dumps(data)
    return b"data: " + payload + b"\n\n"
