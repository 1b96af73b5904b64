"""The log handler `gpool serve` installs: batched writes of whole lines, timestamps as usual."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator

import pytest

from gpool.logs import BatchedHandler, JsonFormatter, LineFormatter, direct_writer


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    yield read, write
    os.close(read)
    os.close(write)


def _drain(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "gpool.test", "levelno": level, "msg": message})


def test_info_lines_wait_for_the_batch_and_a_warning_sends_them_in_order(
    pipe: tuple[int, int],
) -> None:
    read, write = pipe
    handler = BatchedHandler(write, interval=3600)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(3):
        handler.handle(_record(f"line {i}"))
    assert _drain(read) == b""  # no write system call per line
    handler.handle(_record("trouble", logging.WARNING))
    assert _drain(read) == b"line 0\nline 1\nline 2\ntrouble\n"


def test_the_background_thread_flushes_within_the_interval(pipe: tuple[int, int]) -> None:
    read, write = pipe
    handler = BatchedHandler(write, interval=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(_record("quiet line"))
    deadline = time.monotonic() + 5
    seen = b""
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = _drain(read)
    assert seen == b"quiet line\n"


def test_a_full_batch_is_written_at_once_as_whole_lines(pipe: tuple[int, int]) -> None:
    read, write = pipe
    handler = BatchedHandler(write, interval=3600, max_batch=100)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(9):
        handler.handle(_record(f"{i:02d}" + "x" * 20))  # 23 bytes a line
    written = _drain(read)
    assert written.startswith(b"00x") and written.endswith(b"\n")
    assert written.count(b"\n") == 5  # 115 bytes passed the 100: one write; four wait
    handler.flush()
    assert _drain(read).startswith(b"05x")


def test_text_lines_keep_logging_default_timestamp() -> None:
    record = _record("hello")
    record.created, record.msecs = 1_790_000_000.25, 250.0  # as LogRecord derives msecs
    ours = LineFormatter()
    theirs = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    assert ours.format(record) == theirs.format(record)
    later = _record("again")
    later.created, later.msecs = record.created + 1.5, 750.0
    assert ours.format(later) == theirs.format(later)  # a new second is rendered anew


def test_json_lines_carry_an_iso_timestamp() -> None:
    record = _record("hello")
    line = JsonFormatter().format(record)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(int(record.created)))
    assert f'"time": "{stamp}"' in line


def _isolated_logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.Logger("gpool.access")  # not in the global hierarchy
    logger.addHandler(handler)
    return logger


def test_access_lines_written_directly_match_the_record_path(pipe: tuple[int, int]) -> None:
    read, write = pipe
    handler = BatchedHandler(write, interval=3600)
    handler.setFormatter(LineFormatter())
    logger = _isolated_logger(handler)
    direct = direct_writer(logger)
    assert direct is not None
    direct("req-1 POST /v1/x 200 1.0ms key=k1 attempts=1", None)
    logger.info("%s", "req-2 POST /v1/x 200 1.0ms key=k1 attempts=1")
    handler.flush()
    lines = _drain(read).decode().splitlines()
    shape = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO    gpool\.access: req-\d POST /v1/x 200"
    assert len(lines) == 2
    assert all(re.match(shape, line) for line in lines), lines


def test_json_access_lines_written_directly_carry_their_fields(pipe: tuple[int, int]) -> None:
    read, write = pipe
    handler = BatchedHandler(write, interval=3600)
    handler.setFormatter(JsonFormatter())
    direct = direct_writer(_isolated_logger(handler))
    assert direct is not None
    direct("req-1 GET /v1/models 200", {"status": 200, "key": None})
    handler.flush()
    line = json.loads(_drain(read))
    assert line["logger"] == "gpool.access"
    assert line["level"] == "info"
    assert line["message"] == "req-1 GET /v1/models 200"
    assert (line["status"], line["key"]) == (200, None)


def test_any_other_logging_set_up_keeps_the_record_path(pipe: tuple[int, int]) -> None:
    handler = BatchedHandler(pipe[1], interval=3600)
    handler.setFormatter(LineFormatter())
    assert direct_writer(_isolated_logger(logging.StreamHandler())) is None
    two = _isolated_logger(handler)
    two.addHandler(logging.NullHandler())
    assert direct_writer(two) is None
    filtered = _isolated_logger(handler)
    filtered.addFilter(lambda record: True)
    assert direct_writer(filtered) is None
    plain = BatchedHandler(pipe[1], interval=3600)
    plain.setFormatter(logging.Formatter("%(message)s"))
    assert direct_writer(_isolated_logger(plain)) is None
