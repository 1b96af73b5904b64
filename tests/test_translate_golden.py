"""Golden pairs in tests/golden: each input file translated must equal its twin.

``<name>_request.openai.json`` -> ``.gemini.json``; ``<name>_response.gemini.json`` ->
``.openai.json``; ``<name>_stream.gemini.json`` (a list of events) -> ``.openai.json``
(the chunks, then ``finish()``'s). Set GPOOL_REGEN_GOLDEN=1 to rewrite the outputs,
then review the diff.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpool.translate import (
    ChatStreamTranslator,
    chat_request_to_gemini,
    chat_response_from_gemini,
    embeddings_request_to_gemini,
)

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("GPOOL_REGEN_GOLDEN") == "1"
CREATED = 1_700_000_000

# Options a response or stream golden is translated with; the rest use the defaults.
OPTIONS: dict[str, dict[str, Any]] = {
    "chat_text_response": {"include_thoughts": True},
    "chat_text_stream": {"include_thoughts": True, "include_usage": True},
}


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def check(actual: Any, expected_path: Path) -> None:
    if REGEN:
        text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
        expected_path.write_text(text, encoding="utf-8")
    assert actual == load(expected_path)


def names(pattern: str) -> list[str]:
    return sorted(p.name.split(".")[0] for p in GOLDEN.glob(pattern))


@pytest.mark.parametrize("name", names("chat_*_request.openai.json"))
def test_chat_request(name: str) -> None:
    body = load(GOLDEN / f"{name}.openai.json")
    plan = chat_request_to_gemini(body, upstream_model=body["model"])
    check(plan.body, GOLDEN / f"{name}.gemini.json")


@pytest.mark.parametrize("name", names("chat_*_response.gemini.json"))
def test_chat_response(name: str) -> None:
    resp = load(GOLDEN / f"{name}.gemini.json")
    options = {"include_thoughts": False, **OPTIONS.get(name, {})}
    out = chat_response_from_gemini(
        resp, model="gpt-4o", created=CREATED, id_factory=ids(), **options
    )
    check(out, GOLDEN / f"{name}.openai.json")


@pytest.mark.parametrize("name", names("chat_*_stream.gemini.json"))
def test_chat_stream(name: str) -> None:
    events = load(GOLDEN / f"{name}.gemini.json")
    options = {"include_thoughts": False, "include_usage": False, **OPTIONS.get(name, {})}
    translator = ChatStreamTranslator(model="gpt-4o", created=CREATED, id_factory=ids(), **options)
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    check([*chunks, *translator.finish()], GOLDEN / f"{name}.openai.json")


@pytest.mark.parametrize("name", names("embeddings_*_request.openai.json"))
def test_embeddings_request(name: str) -> None:
    body = load(GOLDEN / f"{name}.openai.json")
    batches, _ = embeddings_request_to_gemini(body, upstream_model="gemini-embedding-001")
    check(batches, GOLDEN / f"{name}.gemini.json")


def test_every_golden_input_has_its_output() -> None:
    inputs = [
        p
        for p in GOLDEN.glob("*.json")
        if p.name.endswith(("_request.openai.json", "_response.gemini.json", "_stream.gemini.json"))
    ]
    assert len(inputs) >= 10
    for path in inputs:
        kind = "gemini" if path.name.endswith("request.openai.json") else "openai"
        assert path.with_name(path.name.split(".")[0] + f".{kind}.json").exists(), path.name
