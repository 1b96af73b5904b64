"""A built-in fake of Google's Gemini API, with faults chosen by the API key."""

from __future__ import annotations

from .app import create_fake_app
from .keys import FAULTS, fake_key
from .state import FAKE_STATE, FakeState, RecordedCall

__all__ = ["FAKE_STATE", "FAULTS", "FakeState", "RecordedCall", "create_fake_app", "fake_key"]
