"""gpool.jsonio gives the same answers with orjson (gpool[speed]) and without it."""

from __future__ import annotations

import json

import pytest

from gpool import jsonio

pytestmark = pytest.mark.usefixtures("json_backend")


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, -3e-7, true, false, null], "b": {"c": "d"}}',
        '"caf\\u00e9 \\u2603 \\ud83d\\ude00"',
        "12345678901234567890123",  # beyond 64 bits: the standard library takes it
        '"\\ud800"',  # a lone surrogate escape: valid JSON text
        "[]",
    ],
)
def test_loads_accepts_what_json_accepts(text: str) -> None:
    assert jsonio.loads(text.encode()) == json.loads(text)
    assert jsonio.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ["NaN", '{"t": Infinity}', "[-Infinity]"])
def test_loads_refuses_non_json_constants(text: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON value"):
        jsonio.loads(text.encode())


@pytest.mark.parametrize("text", ["", "{", '{"a" 1}', "[1,]", b"\xff\xfe".decode("latin-1")])
def test_loads_refuses_broken_json_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text.encode("latin-1"))


def test_dumps_is_compact_utf8() -> None:
    value = {"text": "café ☃ 😀", "n": [1, 2.5, None, True], "nested": {"k": "v"}}
    out = jsonio.dumps(value)
    assert isinstance(out, bytes)
    assert out == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def test_dumps_writes_what_utf8_cannot_hold_escaped() -> None:
    value = {"text": "\ud800 lone", "big": 12345678901234567890123}
    out = jsonio.dumps(value)
    assert json.loads(out) == value
    assert b"\\ud800" in out


def test_both_implementations_are_exercised(json_backend: str) -> None:
    assert jsonio.FAST is (json_backend == "orjson")


@pytest.mark.parametrize("text", ["1e400", '{"temperature": -1e999}'])
def test_loads_refuses_numbers_no_float_holds(text: str) -> None:
    with pytest.raises(ValueError, match="too large for a JSON number"):
        jsonio.loads(text.encode())


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_loads_reads_the_encodings_json_loads_reads(encoding: str) -> None:
    assert jsonio.loads('{"text": "café"}'.encode(encoding)) == {"text": "café"}
