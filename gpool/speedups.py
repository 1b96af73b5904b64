"""The optional accelerators of ``gpool[speed]``: orjson (see ``gpool.jsonio``) and uvloop.

Both are used when installed; ``GPOOL_SPEED=0`` in the environment turns both off, to
compare or to rule them out. gpool behaves the same either way, only cheaper.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["enabled", "run"]

T = TypeVar("T")


def enabled() -> bool:
    """False when ``GPOOL_SPEED=0``: no orjson and no uvloop even if installed."""
    return os.environ.get("GPOOL_SPEED", "1") != "0"


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not enabled():
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's event loop when it is there."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)
