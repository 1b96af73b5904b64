"""Logging set-up for ``gpool serve``: plain text lines or one JSON object per line."""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import time
from typing import TextIO

__all__ = ["setup_logging"]

# LogRecord attributes that are not worth repeating in a JSON line.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """Writes records as they come, but flushes the stream from a background thread every
    ``interval`` seconds (warnings and worse at once), so a busy access log costs one
    syscall per batch rather than one per request."""

    def __init__(self, stream: TextIO, interval: float = 0.5) -> None:
        super().__init__(stream)
        self._dirty = False
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval,), name="gpool-log-flush", daemon=True
        )
        self._flusher.start()

    def _flush_every(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            if self._dirty:
                self.flush()

    def flush(self) -> None:
        self._dirty = False
        super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle() holds the handler's lock here, and flush() takes it too.
        try:
            self.stream.write(self.format(record) + self.terminator)
            self._dirty = True
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.flush()


def setup_logging(level: str, fmt: str) -> None:
    # Records never need the caller's file and line here: skip the stack walk for each.
    logging._srcfile = None  # documented in the logging HOWTO's optimization section
    handler = BatchedStreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    atexit.register(handler.flush)
    root.setLevel(level.upper())
    # aiohttp's own access log would repeat gpool.access without the key and attempt count.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
