"""The key pool alone: round-robin, weights, exclusion, cooldowns per model, with a fake clock."""

from __future__ import annotations

from collections import Counter

import pytest

from gpool.errors import NoKeyAvailable
from gpool.keys import Effect, KeyPool, PoolKey, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_pool(*weights: int, clock: Clock | None = None) -> KeyPool:
    keys = [
        PoolKey(index=i, secret=f"secret-{i}", label=f"k{i}", weight=w)
        for i, w in enumerate(weights)
    ]
    return KeyPool(keys, clock=clock or Clock())


async def test_round_robin_visits_every_key_in_turn() -> None:
    pool = make_pool(1, 1, 1)
    picked = [(await pool.acquire("m")).label for _ in range(6)]
    assert picked == ["k0", "k1", "k2", "k0", "k1", "k2"]


async def test_weights_share_traffic_and_interleave() -> None:
    pool = make_pool(3, 1)
    picked = [(await pool.acquire("m")).label for _ in range(8)]
    assert Counter(picked) == {"k0": 6, "k1": 2}
    # Spread, not bunched: the light key never waits a whole cycle of the heavy one twice.
    assert "k1" in picked[:4] and "k1" in picked[4:]


async def test_exclude_skips_keys_already_tried() -> None:
    pool = make_pool(1, 1, 1)
    first = await pool.acquire("m")
    second = await pool.acquire("m", exclude=[first])
    third = await pool.acquire("m", exclude=[first, second])
    assert len({first.label, second.label, third.label}) == 3
    with pytest.raises(NoKeyAvailable) as caught:
        await pool.acquire("m", exclude=[first, second, third])
    assert caught.value.retry_after is None


async def test_cooldown_is_per_model_and_ends_on_time() -> None:
    clock = Clock()
    pool = make_pool(1, 1, clock=clock)
    k0 = pool.keys[0]
    pool.record_failure(k0, "flash", Verdict(Effect.COOLDOWN, retry=True, reason="rl", cooldown=30))
    assert {(await pool.acquire("flash")).label for _ in range(4)} == {"k1"}
    assert {(await pool.acquire("pro")).label for _ in range(4)} == {"k0", "k1"}
    clock.now += 31
    assert {(await pool.acquire("flash")).label for _ in range(4)} == {"k0", "k1"}


async def test_no_key_available_reports_soonest_cooldown_end() -> None:
    clock = Clock()
    pool = make_pool(1, 1, clock=clock)
    pool.record_failure(pool.keys[0], "m", Verdict(Effect.COOLDOWN, True, "rl", cooldown=40))
    pool.record_failure(pool.keys[1], "m", Verdict(Effect.COOLDOWN, True, "rl", cooldown=12))
    with pytest.raises(NoKeyAvailable) as caught:
        await pool.acquire("m")
    assert caught.value.retry_after == pytest.approx(12)
    assert "cooling down" in caught.value.message


async def test_disabled_key_is_skipped_until_enabled() -> None:
    pool = make_pool(1, 1)
    k0, k1 = pool.keys
    pool.record_failure(k0, "m", Verdict(Effect.DISABLE, True, "API_KEY_INVALID"))
    assert k0.disabled == "API_KEY_INVALID"
    assert {(await pool.acquire("m")).label for _ in range(4)} == {"k1"}
    pool.record_failure(k1, "m", Verdict(Effect.DISABLE, True, "CONSUMER_SUSPENDED"))
    with pytest.raises(NoKeyAvailable) as caught:
        await pool.acquire("m")
    assert "disabled" in caught.value.message
    pool.enable(k0)
    assert await pool.acquire("m") is k0


def test_client_errors_leave_the_key_alone() -> None:
    pool = make_pool(1)
    k0 = pool.keys[0]
    pool.record_failure(k0, "m", Verdict(Effect.NONE, False, "INVALID_ARGUMENT"))
    assert k0.disabled is None and not k0.cooldowns and k0.failures == 0


def test_repr_never_shows_the_secret() -> None:
    pool = make_pool(1)
    assert "secret-0" not in repr(pool.keys[0])


async def test_pinned_key_is_the_only_choice() -> None:
    clock = Clock()
    pool = make_pool(1, 1, 1, clock=clock)
    owner = pool.keys[2]
    assert {(await pool.acquire("m", pin=owner)).label for _ in range(3)} == {"k2"}
    assert pool.by_id(owner.key_id) is owner
    pool.record_failure(owner, "m", Verdict(Effect.COOLDOWN, True, "rl", cooldown=20))
    with pytest.raises(NoKeyAvailable) as caught:
        await pool.acquire("m", pin=owner)
    assert caught.value.retry_after == pytest.approx(20)
    assert "owns a resource" in caught.value.message


def test_key_id_is_stable_and_not_the_secret() -> None:
    a = PoolKey(index=0, secret="AIzaSecretValue123", label="a")
    b = PoolKey(index=5, secret="AIzaSecretValue123", label="b")
    assert a.key_id == b.key_id and len(a.key_id) == 16
    assert "Secret" not in a.key_id
