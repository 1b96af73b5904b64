"""The key pool: which key serves a request, and what an upstream answer means for it."""

from gpool.keys.classify import Effect, Verdict, classify, transient
from gpool.keys.health import HealthPolicy, RetryBudget
from gpool.keys.ledger import Ledger, MemoryLedger
from gpool.keys.limits import Limit, LimitTable
from gpool.keys.pool import KeyPool, PoolKey

__all__ = [
    "Effect",
    "HealthPolicy",
    "KeyPool",
    "Ledger",
    "Limit",
    "LimitTable",
    "MemoryLedger",
    "PoolKey",
    "RetryBudget",
    "Verdict",
    "classify",
    "transient",
]
