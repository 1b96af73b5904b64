"""JSON on the request path: orjson when installed (``gpool[speed]``), else the standard
library, with the same answers either way.

- ``loads`` accepts what ``json.loads`` accepts (a UTF-8 BOM, UTF-16 and UTF-32 too),
  except ``NaN``, ``Infinity`` and numbers too large for a float, which no two JSON
  libraries treat alike: a request carrying them is refused rather than forwarded as
  ``null`` by one build and as ``Infinity`` by the other. Where orjson's reading differs from the
  standard library's (integers beyond 64 bits, which it reads as floats; lone surrogate
  escapes, which it refuses), the standard library reads the input.
- ``dumps`` is compact UTF-8. A string that cannot be UTF-8 (a lone surrogate a client
  sent as ``\\ud800``) is written ``\\u``-escaped, as it came, instead of failing.

Call these as ``jsonio.loads``: a test may switch the implementation in place.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

from gpool import speedups

__all__ = ["FAST", "dumps", "loads", "use_stdlib"]


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"))


# Digits become "0", anything else a space: 19 zeros in a row may be an integer beyond
# 64 bits. (A translate and a substring search cost a fraction of a regex scan.)
_DIGITS_ONLY = bytes(c if 0x30 <= c <= 0x39 else 0x20 for c in range(256)).replace(
    b"123456789", b"000000000"
)
_LONG_RUN = b"0" * 19


def _may_hold_long_integer(data: bytes | str) -> bool:
    raw = data.encode(errors="surrogatepass") if isinstance(data, str) else bytes(data)
    return _LONG_RUN in raw.translate(_DIGITS_ONLY)


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is too large for a JSON number")
    return value


def _std_loads(data: bytes | str) -> Any:
    """``json.loads``, refusing what no JSON parser agrees on: NaN, Infinity, 1e400."""
    if not isinstance(data, str):
        raw = bytes(data)
        data = raw.decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads does
    return _DECODER.decode(data)


_DECODER = json.JSONDecoder(parse_constant=_refuse, parse_float=_finite)


def _std_dumps(value: Any) -> bytes:
    text = _ENCODER.encode(value)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(value).encode()


Loads = Callable[[bytes | str], Any]
Dumps = Callable[[Any], bytes]


def _with_orjson(orjson: ModuleType) -> tuple[Loads, Dumps]:
    decode_error, encode = orjson.JSONDecodeError, orjson.dumps

    def fast_loads(data: bytes | str) -> Any:
        if _may_hold_long_integer(data):  # orjson would read it as a float
            return _std_loads(data)
        try:
            return orjson.loads(data)
        except decode_error:
            return _std_loads(data)  # the same verdict and message as without orjson

    def fast_dumps(value: Any) -> bytes:
        try:
            return cast(bytes, encode(value))
        except TypeError:  # an integer beyond 64 bits, a lone surrogate, ...
            return _std_dumps(value)

    return fast_loads, fast_dumps


_FAST: tuple[Loads, Dumps] | None = None
if speedups.enabled():
    try:
        import orjson as _orjson
    except ImportError:
        pass
    else:
        _FAST = _with_orjson(_orjson)

#: Whether orjson does the work.
FAST = _FAST is not None
loads, dumps = _FAST or (_std_loads, _std_dumps)


def use_stdlib(enabled: bool = True) -> None:
    """Switch to the standard library (or back): for tests of the pure-Python path."""
    global FAST, loads, dumps
    FAST = _FAST is not None and not enabled
    loads, dumps = _FAST if FAST and _FAST else (_std_loads, _std_dumps)
