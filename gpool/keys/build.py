"""A KeyPool as the configuration describes it: keys, limits, strategy, health, state."""

from __future__ import annotations

from pathlib import Path

from gpool.config import Config, LimitConfig
from gpool.keys.health import HealthPolicy, RetryBudget
from gpool.keys.ledger import Ledger, MemoryLedger
from gpool.keys.limits import Limit, LimitTable
from gpool.keys.pool import KeyPool, PoolKey
from gpool.keys.sqlite_ledger import SqliteLedger

__all__ = ["build_pool", "build_retry_budget", "make_ledger", "state_problem"]


def _limit(limit: LimitConfig) -> Limit:
    return Limit(rpm=limit.rpm, rpd=limit.rpd, tpm=limit.tpm)


def state_problem(state: str) -> str | None:
    """Why ``state`` cannot be used on this installation, or None."""
    try:
        make_ledger(state)
    except ValueError as exc:
        return str(exc)
    return None


def make_ledger(state: str) -> Ledger:
    """The ledger for ``state``: ``memory``, ``sqlite:///path``, ``redis://host:port/db``."""
    if state == "memory":
        return MemoryLedger()
    if state.startswith("sqlite:///"):
        return SqliteLedger(Path(state.removeprefix("sqlite:///")))
    if state.startswith(("redis://", "rediss://")):
        try:  # imported here: gpool works without the redis package
            from gpool.keys.redis_ledger import RedisLedger
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] != "redis":
                raise
            raise ValueError(
                "state: redis:// needs the redis extra: pip install 'gpool[redis]'"
            ) from exc
        return RedisLedger(state)
    raise ValueError(f"state {state.split('://')[0]}:// is not supported yet")


def build_pool(config: Config, *, worker: tuple[int, int] | None = None) -> KeyPool:
    """``worker=(index, count)``: one of ``count`` processes serving the same config."""
    keys = [
        PoolKey(
            index=i,
            secret=k.key,
            label=k.label,
            proxy=k.proxy or config.upstream.proxy,
            weight=k.weight,
        )
        for i, k in enumerate(config.keys)
    ]
    overrides = {
        key.key_id: {model: _limit(limit) for model, limit in k.limits.items()}
        for key, k in zip(keys, config.keys, strict=True)
        if k.limits
    }
    # Without shared counts (a sqlite file), each worker keeps to its part of every limit.
    share = worker if worker is not None and config.state.startswith("sqlite:") else None
    defaults = {m: _limit(lim) for m, lim in config.limits.items()}
    limits = LimitTable(defaults, overrides, share=share)
    settings = config.pool
    health = HealthPolicy(
        backoff_base=settings.backoff_base,
        backoff_cap=settings.backoff_cap,
        eject_after=settings.eject_after,
        eject_base=settings.eject_base,
        max_ejected=settings.max_ejected_percent / 100,
    )
    return KeyPool(
        keys,
        limits=limits,
        strategy=settings.strategy,  # type: ignore[arg-type]  # validated by the config
        health=health,
        ledger=make_ledger(config.state),
    )


def build_retry_budget(config: Config) -> RetryBudget:
    settings = config.pool
    return RetryBudget(settings.retry_budget_percent / 100, settings.retry_budget_min_per_second)
