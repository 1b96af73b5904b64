"""SSEDecoder: events survive any split of the bytes; sse_event writes compact frames."""

from __future__ import annotations

import json

import pytest

from gpool.translate import SSEDecoder, sse_event

# Both JSON implementations: orjson (gpool[speed]) and the standard library.
pytestmark = pytest.mark.usefixtures("json_backend")

FIRST = {"candidates": [{"content": {"parts": [{"text": "héllo\n"}]}}], "responseId": "r"}
SECOND = {"candidates": [{"finishReason": "STOP"}], "responseId": "r"}
PAYLOAD = b"".join(
    b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\r\n\r\n" for e in (FIRST, SECOND)
)


def decode_all(pieces: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.decode(piece)]
    return events + decoder.flush()


@pytest.mark.parametrize("offset", range(len(PAYLOAD) + 1))
def test_every_split_position(offset: int) -> None:
    events = decode_all([PAYLOAD[:offset], PAYLOAD[offset:]])
    assert [json.loads(e) for e in events] == [FIRST, SECOND]


@pytest.mark.parametrize(
    "payload",
    [
        PAYLOAD,
        PAYLOAD.replace(b"\r\n", b"\n"),
        PAYLOAD.replace(b"\r\n", b"\r"),
    ],
    ids=["crlf", "lf", "cr"],
)
def test_byte_by_byte(payload: bytes) -> None:
    events = decode_all([payload[i : i + 1] for i in range(len(payload))])
    assert [json.loads(e) for e in events] == [FIRST, SECOND]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: a\ndata: b\n\n", [b"a\nb"]),
        (b"data:nospace\n\n", [b"nospace"]),
        (b"data:  two\n\n", [b" two"]),
        (b": keep-alive\n\nevent: message\nid: 1\nretry: 5\ndata: x\n\n", [b"x"]),
        (b"\n\n\r\n", []),
        (b"data: [DONE]\n\n", [b"[DONE]"]),
        (b"data: last\n", [b"last"]),  # lines all ended, the blank line never came
        (b"data: x\n\ndata: cut sho", [b"x"]),  # a line cut short is dropped
        (b"data: x\r", [b"x"]),
    ],
)
def test_fields_comments_and_endings(stream: bytes, expected: list[bytes]) -> None:
    assert decode_all([stream]) == expected


def test_many_events_in_one_chunk() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(PAYLOAD * 3) == decode_all([PAYLOAD]) * 3
    assert decoder.flush() == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": 1, "b": [1, 2], "c": "é"}, 'data: {"a":1,"b":[1,2],"c":"é"}\n\n'.encode()),
        ("[DONE]", b"data: [DONE]\n\n"),
    ],
)
def test_sse_event(data: dict[str, object] | str, expected: bytes) -> None:
    assert sse_event(data) == expected


def test_encoder_and_decoder_agree() -> None:
    events = decode_all([sse_event(FIRST), sse_event(SECOND), sse_event("[DONE]")])
    assert events == [sse_event(FIRST)[6:-2], sse_event(SECOND)[6:-2], b"[DONE]"]
