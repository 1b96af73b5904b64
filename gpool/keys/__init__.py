"""The key pool: which key serves a request, and what an upstream answer means for it."""

from gpool.keys.classify import Effect, Verdict, classify, transient
from gpool.keys.pool import KeyPool, PoolKey

__all__ = ["Effect", "KeyPool", "PoolKey", "Verdict", "classify", "transient"]
