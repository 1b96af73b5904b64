"""Logging set-up for ``gpool serve``: plain text lines or one JSON object per line."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping

__all__ = [
    "BatchedHandler",
    "Fields",
    "JsonFormatter",
    "LineFormatter",
    "direct_writer",
    "setup_logging",
]

#: Structured parts of a line, for JSON logs (``extra=`` on a record).
Fields = Mapping[str, object]

# LogRecord attributes that are not worth repeating in a JSON line.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class LineFormatter(logging.Formatter):
    """gpool's text lines, ``time level logger: message``; each second's time rendered once.

    ``line()`` formats the parts of a line without a ``LogRecord``, for the access log's
    direct path; ``format()`` gives a record the same shape.
    """

    _cached: tuple[int, str] = (-1, "")

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def second(self, created: float) -> str:
        second, cached = int(created), self._cached  # one read: other threads log too
        if second != cached[0]:
            cached = (second, time.strftime(self.time_format, self.converter(second)))
            self._cached = cached
        return cached[1]

    time_format = "%Y-%m-%d %H:%M:%S"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{self.second(record.created)},{int(record.msecs):03d}"

    def line(
        self, created: float, level: str, name: str, message: str, fields: Fields | None
    ) -> str:
        millis = int((created - int(created)) * 1000)
        return f"{self.second(created)},{millis:03d} {level:<7} {name}: {message}"

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)


class JsonFormatter(LineFormatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    time_format = "%Y-%m-%dT%H:%M:%S"

    def line(
        self, created: float, level: str, name: str, message: str, fields: Fields | None
    ) -> str:
        line: dict[str, object] = {
            "time": self.second(created),
            "level": level.lower(),
            "logger": name,
            "message": message,
        }
        if fields:
            line.update(fields)
        return json.dumps(line, default=str)

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)


class BatchedHandler(logging.Handler):
    """Collects formatted lines and writes them to ``fd`` in batches: every ``interval``
    seconds from a background thread, at once for warnings and worse, and whenever
    ``max_batch`` bytes are waiting. A busy access log then costs one ``write`` per batch.

    (``sys.stderr`` is line-buffered, so a ``StreamHandler`` on it pays one ``write``
    system call per record.) Batches hold whole lines, so processes sharing the fd,
    like ``--workers``, do not split each other's lines.
    """

    def __init__(self, fd: int, interval: float = 0.5, max_batch: int = 1 << 16) -> None:
        super().__init__()
        self._fd = fd
        self._max_batch = max_batch
        self._pending: list[str] = []
        self._size = 0
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval,), name="gpool-log-flush", daemon=True
        )
        self._flusher.start()

    def _flush_every(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            if self._pending:
                self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle() holds the handler's lock here; flush() takes it too.
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self._max_batch:
            self.flush()

    def write_line(
        self, formatter: LineFormatter, name: str, message: str, fields: Fields | None
    ) -> None:
        """Queue an INFO line for logger ``name``, as ``emit`` would queue its record."""
        line = formatter.line(time.time(), "INFO", name, message, fields) + "\n"
        with self.lock or contextlib.nullcontext():
            self._pending.append(line)
            self._size += len(line)
        if self._size >= self._max_batch:
            self.flush()

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():  # None only before createLock()
            lines, self._pending, self._size = self._pending, [], 0
            if not lines:
                return
            data = memoryview("".join(lines).encode("utf-8", "backslashreplace"))
            try:
                while data:
                    data = data[os.write(self._fd, data) :]
            except OSError:
                pass  # nowhere left to log to; serving goes on


def direct_writer(logger: logging.Logger) -> Callable[[str, Fields | None], None] | None:
    """A way to write ``logger``'s INFO lines straight into gpool's batched handler.

    Only when that is all ``logging`` would do with them: no filter on the way and that
    one handler at the end, as ``gpool serve`` sets it up. Building and dispatching a
    ``LogRecord`` costs more than the rest of the access log; as a sub-app, or under any
    other logging set-up, this is None and lines go through ``logging`` as usual.
    """
    handlers: list[logging.Handler] = []
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters:
            return None
        handlers += node.handlers
        node = node.parent if node.propagate else None
    if len(handlers) != 1:
        return None
    handler, formatter = handlers[0], handlers[0].formatter
    if (
        not isinstance(handler, BatchedHandler)
        or not isinstance(formatter, LineFormatter)
        or handler.filters
        or handler.level > logging.INFO
    ):
        return None
    return functools.partial(handler.write_line, formatter, logger.name)


def setup_logging(level: str, fmt: str) -> None:
    # Records never need the caller's file and line here: skip the stack walk for each.
    logging._srcfile = None  # documented in the logging HOWTO's optimization section
    handler: logging.Handler
    try:
        handler = BatchedHandler(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):  # a stderr with no file behind it
        handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(LineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    atexit.register(handler.flush)
    root.setLevel(level.upper())
    # aiohttp's own access log would repeat gpool.access without the key and attempt count.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
