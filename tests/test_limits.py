"""Declared limits, strategies and failure policy, on the pool alone with a fake clock."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gpool.errors import CapacityExhausted, NoKeyAvailable
from gpool.keys import (
    Effect,
    HealthPolicy,
    KeyPool,
    Limit,
    LimitTable,
    PoolKey,
    RetryBudget,
    Verdict,
)
from gpool.keys.classify import next_pacific_midnight
from gpool.keys.limits import WINDOW

TRANSIENT = Verdict(Effect.TRANSIENT, retry=True, reason="UNAVAILABLE")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_pool(
    n: int, clock: Clock, *, weights: list[int] | None = None, **kwargs: object
) -> KeyPool:
    keys = [
        PoolKey(index=i, secret=f"secret-{i}", label=f"k{i}", weight=(weights or [1] * n)[i])
        for i in range(n)
    ]
    return KeyPool(keys, clock=clock, **kwargs)  # type: ignore[arg-type]


async def test_rpm_is_never_exceeded_and_retry_after_is_when_room_returns() -> None:
    clock = Clock()
    pool = make_pool(2, clock, limits=LimitTable({"flash": Limit(rpm=3)}))
    used = [(await pool.acquire("flash")).label for _ in range(6)]
    assert Counter(used) == {"k0": 3, "k1": 3}
    clock.now += 20
    with pytest.raises(CapacityExhausted) as caught:
        await pool.acquire("flash")
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(WINDOW - 20)
    # Other models are not limited by flash's window.
    assert (await pool.acquire("pro")).label in {"k0", "k1"}
    clock.now += WINDOW - 20 + 0.01
    assert (await pool.acquire("flash")).label in {"k0", "k1"}


async def test_rpd_holds_until_pacific_midnight() -> None:
    clock = Clock()
    pool = make_pool(1, clock, limits=LimitTable({"flash": Limit(rpd=2)}))
    await pool.acquire("flash")
    clock.now += 3600
    await pool.acquire("flash")
    with pytest.raises(CapacityExhausted) as caught:
        await pool.acquire("flash")
    midnight = next_pacific_midnight(clock.now)
    assert caught.value.retry_after == pytest.approx(midnight - clock.now)
    clock.now = midnight + 1
    assert (await pool.acquire("flash")).label == "k0"


async def test_tpm_counts_tokens_reported_after_the_answer() -> None:
    clock = Clock()
    pool = make_pool(1, clock, limits=LimitTable({"flash": Limit(tpm=1000)}))
    key = await pool.acquire("flash")
    await pool.record_success(key, "flash", tokens=700)
    clock.now += 10
    key = await pool.acquire("flash")  # 700 < 1000: still room
    await pool.record_success(key, "flash", tokens=400)
    with pytest.raises(CapacityExhausted) as caught:
        await pool.acquire("flash")
    # The 700 tokens leave the window (a minute and a second) after they were counted.
    assert caught.value.retry_after == pytest.approx(WINDOW - 10)


async def test_a_key_override_raises_its_own_limit_field_by_field() -> None:
    clock = Clock()
    keys = [PoolKey(index=i, secret=f"s{i}", label=f"k{i}") for i in range(2)]
    paid = keys[1].key_id
    table = LimitTable({"flash": Limit(rpm=1, rpd=100)}, {paid: {"flash": Limit(rpm=5)}})
    assert table.for_key(paid, "flash") == Limit(rpm=5, rpd=100)
    pool = KeyPool(keys, clock=clock, limits=table)
    used = Counter([(await pool.acquire("flash")).label for _ in range(6)])
    assert used == {"k0": 1, "k1": 5}


async def test_limits_match_model_globs() -> None:
    table = LimitTable({"gemini-2.5-*": Limit(rpm=7)})
    assert table.for_key("x", "gemini-2.5-pro") == Limit(rpm=7)
    assert table.for_key("x", "gemini-3-pro") is None


async def test_least_used_picks_the_key_with_most_room() -> None:
    clock = Clock()
    pool = make_pool(3, clock, limits=LimitTable({"flash": Limit(rpm=10)}), strategy="least_used")
    for _ in range(4):
        await pool.ledger.reserve(pool.keys[0], "flash", Limit(rpm=10), clock.now)
    for _ in range(2):
        await pool.ledger.reserve(pool.keys[2], "flash", Limit(rpm=10), clock.now)
    assert (await pool.acquire("flash")).label == "k1"
    # Spreading then evens them out: 4 + 1 + 2 earlier, 16 in all, no key more than one ahead.
    used = Counter([(await pool.acquire("flash")).label for _ in range(9)])
    totals = [4 + used["k0"], 1 + used["k1"], 2 + used["k2"]]
    assert sum(totals) == 16 and max(totals) - min(totals) <= 1


async def test_weighted_strategy_follows_the_weights() -> None:
    random.seed(7)
    pool = make_pool(2, Clock(), weights=[1, 3], strategy="weighted")
    used = Counter([(await pool.acquire("m")).label for _ in range(4000)])
    assert 0.7 < used["k1"] / 4000 < 0.8


async def test_429_without_a_delay_backs_off_exponentially() -> None:
    clock = Clock()
    pool = make_pool(1, clock, health=HealthPolicy(backoff_base=2, backoff_cap=10))
    key = pool.keys[0]
    no_delay = Verdict(Effect.COOLDOWN, retry=True, reason="rl", backoff=True)
    ends = []
    for _ in range(5):
        pool.record_failure(key, "flash", no_delay)
        ends.append(key.cooldowns["flash"] - clock.now)
        clock.now = key.cooldowns["flash"]
    assert ends == [2, 4, 8, 10, 10]
    await pool.record_success(key, "flash")
    pool.record_failure(key, "flash", no_delay)
    assert key.cooldowns["flash"] - clock.now == 2


async def test_repeated_transient_failures_eject_for_longer_each_time() -> None:
    clock = Clock()
    pool = make_pool(4, clock, health=HealthPolicy(eject_after=3, eject_base=30))
    key = pool.keys[0]
    for _ in range(2):
        pool.record_failure(key, "m", TRANSIENT)
    assert key.ejected_until == 0
    pool.record_failure(key, "m", TRANSIENT)
    assert key.ejected_until == clock.now + 30
    assert "k0" not in {(await pool.acquire("m")).label for _ in range(6)}
    clock.now += 31
    for _ in range(3):
        pool.record_failure(key, "m", TRANSIENT)
    assert key.ejected_until == clock.now + 60  # the second ejection in a row
    clock.now += 61
    await pool.record_success(key, "m")
    for _ in range(3):
        pool.record_failure(key, "m", TRANSIENT)
    assert key.ejected_until == clock.now + 30  # a success in between starts over


async def test_ejection_cap_keeps_part_of_the_pool_in_service() -> None:
    """An IP-wide outage fails every key; at most half of them may be ejected."""
    clock = Clock()
    pool = make_pool(4, clock, health=HealthPolicy(eject_after=1, max_ejected=0.5))
    for key in pool.keys:
        pool.record_failure(key, "m", TRANSIENT)
    assert sum(1 for k in pool.keys if k.ejected_until > clock.now) == 2
    assert pool.usable_count("m") == 2


async def test_all_keys_ejected_or_cooling_is_a_503_not_a_429() -> None:
    clock = Clock()
    pool = make_pool(1, clock, health=HealthPolicy(eject_after=1, max_ejected=1.0))
    pool.record_failure(pool.keys[0], "m", TRANSIENT)
    with pytest.raises(NoKeyAvailable) as caught:
        await pool.acquire("m")
    assert not isinstance(caught.value, CapacityExhausted)
    assert caught.value.retry_after == pytest.approx(30)


def test_retry_budget_caps_retries_to_a_share_of_traffic() -> None:
    clock = Clock()
    budget = RetryBudget(0.2, 0.5, window=10, clock=clock)  # floor: 5 retries per 10 s
    for _ in range(100):
        budget.request()
    allowed = sum(budget.try_retry() for _ in range(100))
    assert allowed == 5 + 20
    clock.now += 11  # the window has moved on
    assert budget.try_retry()


@pytest.mark.parametrize(
    ("limit", "count", "parts"),
    [
        (Limit(rpm=10, rpd=250), 2, [Limit(rpm=5, rpd=125), Limit(rpm=5, rpd=125)]),
        (Limit(rpm=5, tpm=1001), 2, [Limit(rpm=3, tpm=501), Limit(rpm=2, tpm=500)]),
        (Limit(rpm=1), 3, [Limit(rpm=1), Limit(rpm=0), Limit(rpm=0)]),
    ],
)
def test_worker_shares_add_up_to_the_limit(limit: Limit, count: int, parts: list[Limit]) -> None:
    assert [limit.share(i, count) for i in range(count)] == parts


async def test_a_worker_with_no_share_sends_nothing() -> None:
    clock = Clock()
    table = LimitTable({"flash": Limit(rpm=1)}, share=(1, 2))
    pool = make_pool(1, clock, limits=table)
    with pytest.raises(CapacityExhausted):
        await pool.acquire("flash")
