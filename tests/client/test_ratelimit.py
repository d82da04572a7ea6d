"""Rate limiters: exponential per-item backoff, the token bucket, and client-go's default mix."""

from __future__ import annotations

import asyncio
import math

import pytest

from kube.client.clock import FakeClock
from kube.client.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_controller_rate_limiter,
)


def test_exponential_backoff_doubles_per_failure_and_forget_starts_over() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=0.001, max_delay=1.0)
    delays = [limiter.when("a") for _ in range(5)]
    assert delays == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.016])
    assert limiter.num_requeues("a") == 5
    assert limiter.when("b") == pytest.approx(0.001)  # items back off independently
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.001)


def test_exponential_backoff_is_capped_even_after_huge_failure_counts() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=0.005, max_delay=1000.0)
    delays = [limiter.when("k") for _ in range(1100)]
    assert delays[17] == pytest.approx(0.005 * 2**17)  # 655.36 s, still under the cap
    assert delays[18] == 1000.0
    assert delays[-1] == 1000.0  # 2**1099 overflows a float: still the cap
    assert limiter.num_requeues("k") == 1100


async def test_token_bucket_starts_full_and_refills_at_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=2, burst=3, clock=clock)
    assert [bucket.try_accept() for _ in range(4)] == [True, True, True, False]
    await clock.advance(0.4)  # less than one token's worth (0.5 s)
    assert not bucket.try_accept()
    await clock.advance(0.1)
    assert bucket.try_accept()
    assert not bucket.try_accept()
    await clock.advance(100)  # never more than burst saved up
    assert [bucket.try_accept() for _ in range(4)] == [True, True, True, False]


async def test_token_bucket_reservations_pile_up_behind_each_other() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10, burst=2, clock=clock)
    delays = [bucket.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3])
    assert not bucket.try_accept()  # in debt: nothing to take
    await clock.advance(0.25)
    assert bucket.reserve() == pytest.approx(0.15)  # behind the one due at 0.3


async def test_token_bucket_wait_spaces_callers_on_the_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=4, burst=1, clock=clock)
    passed: list[float] = []

    async def request() -> None:
        await bucket.wait()
        passed.append(clock.now())

    tasks = [asyncio.create_task(request()) for _ in range(4)]
    await clock.advance(0)
    assert passed == [0.0]
    await clock.advance(1)
    assert passed == pytest.approx([0.0, 0.25, 0.5, 0.75])
    await asyncio.gather(*tasks)


async def test_a_cancelled_wait_gives_its_token_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock)
    assert bucket.try_accept()
    waiter = asyncio.create_task(bucket.wait())
    await clock.advance(0.5)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    # The token due at 1.0 was never used: it is there again at 1.0, not at 2.0.
    await clock.advance(0.5)
    assert bucket.try_accept()


def test_token_bucket_without_limit_and_bad_arguments() -> None:
    bucket = TokenBucket(qps=math.inf, burst=0, clock=FakeClock())
    assert all(bucket.try_accept() for _ in range(1000))
    assert bucket.reserve() == 0.0
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(qps=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(qps=1, burst=0)


def test_bucket_rate_limiter_is_shared_by_all_items() -> None:
    limiter = BucketRateLimiter(qps=10, burst=3, clock=FakeClock())
    delays = [limiter.when(f"item-{i}") for i in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])
    assert limiter.num_requeues("item-4") == 0
    limiter.forget("item-4")  # no per-item state to drop


def test_max_of_takes_the_longest_and_every_limiter_counts() -> None:
    fast = ItemExponentialFailureRateLimiter(base=0.001, max_delay=10)
    slow = ItemExponentialFailureRateLimiter(base=0.01, max_delay=0.02)
    limiter = MaxOfRateLimiter(fast, slow)
    assert [limiter.when("k") for _ in range(6)] == pytest.approx(
        [0.01, 0.02, 0.02, 0.02, 0.02, 0.032]
    )
    assert fast.num_requeues("k") == slow.num_requeues("k") == limiter.num_requeues("k") == 6
    limiter.forget("k")
    assert fast.num_requeues("k") == slow.num_requeues("k") == 0
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()


def test_default_controller_rate_limiter_matches_client_go() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    # One failing item: 5 ms, 10 ms, 20 ms ... (the bucket has tokens to spare).
    assert [limiter.when("hot") for _ in range(4)] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    # A mass failure: the 100-token burst (4 already used) then 10 per second.
    first = [limiter.when(f"pod-{i}") for i in range(96)]
    assert first == pytest.approx([0.005] * 96)
    assert [limiter.when(f"late-{i}") for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    limiter.forget("hot")
    assert limiter.num_requeues("hot") == 0
