"""Rate limiters: how long an item waits before it is retried, and client-side request throttling.

A workqueue rate limiter has client-go's tiny interface: `when(item)` records a failure and
returns how many seconds the item should wait before it is retried, `forget(item)` clears its
history once it succeeds, `num_requeues(item)` says how often it has failed. Controllers use
`default_controller_rate_limiter()`, client-go's DefaultControllerRateLimiter: the larger of a
per-item exponential backoff (5 ms doubling to 1000 s) and an overall token bucket (10 qps,
burst 100), so one hot failing item backs off on its own and a mass failure cannot retry
faster than 10 items a second.

`TokenBucket` is golang.org/x/time/rate's limiter on an injected clock: `qps` tokens a second,
at most `burst` saved up, full at the start. Taking a token when none is left *reserves* it
(the balance goes negative), so successive callers are spaced 1/qps apart instead of all
waking at once. It serves both the workqueue's `BucketRateLimiter` and the REST client's
client-side throttling (client-go's flowcontrol.NewTokenBucketRateLimiter, `--kube-api-qps`):
the REST client calls `await bucket.wait()` before each request, or `try_accept()` when it
would rather fail than wait.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Hashable
from typing import Protocol

from kube.client.clock import Clock, RealClock


class RateLimiter(Protocol):
    """client-go's workqueue.RateLimiter."""

    def when(self, item: Hashable) -> float:
        """Record a failure of `item`; return the seconds it should wait before its retry."""
        ...

    def forget(self, item: Hashable) -> None:
        """Drop `item`'s failure history (it succeeded, or was given up on)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of `item` have been recorded since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-item backoff: `base * 2**failures`, capped at `max_delay` (seconds).

    The first retry of an item waits `base`, the next `2 * base`, and so on; `forget` starts
    the item over. Items do not affect one another.
    """

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        try:
            backoff = self.base * 2.0**exp
        except OverflowError:
            return self.max_delay
        return min(backoff, self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """A token bucket of `qps` tokens a second holding at most `burst`, full at the start.

    `reserve()` takes a token now, going into debt if there is none, and returns how long the
    caller must wait for it to be its turn: with an empty bucket at 10 qps, three immediate
    callers get 0.1, 0.2 and 0.3 s (golang.org/x/time/rate's Reserve). `try_accept()` takes a
    token only if one is there now (Allow). `await wait()` reserves and sleeps on the clock
    for the delay (Wait); if the waiting coroutine is cancelled, its token is given back less
    what later reservations already counted on, as rate.Reservation.Cancel does.

    `qps=math.inf` means no limit (every call is accepted at once).
    """

    def __init__(self, qps: float, burst: int, clock: Clock | None = None) -> None:
        if not qps > 0:
            raise ValueError(f"qps must be positive, got {qps}")
        if burst < 1 and not math.isinf(qps):
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self.clock: Clock = clock or RealClock()
        self._tokens = float(burst)
        self._last: float | None = None  # when _tokens was computed; None: full
        self._last_event: float | None = None  # when the latest reservation may act

    def _advance(self, now: float) -> float:
        """The balance at `now`: what was left plus what refilled since, at most `burst`."""
        if self._last is None:
            return float(self.burst)
        elapsed = max(now - self._last, 0.0)
        return min(self._tokens + elapsed * self.qps, float(self.burst))

    def reserve(self) -> float:
        """Take one token; return the seconds until it is the caller's turn (0 if now)."""
        if math.isinf(self.qps):
            return 0.0
        now = self.clock.now()
        tokens = self._advance(now) - 1.0
        delay = -tokens / self.qps if tokens < 0 else 0.0
        self._last = now
        self._tokens = tokens
        self._last_event = now + delay
        return delay

    def try_accept(self) -> bool:
        """Take a token if one is available right now; never waits, never goes into debt."""
        if math.isinf(self.qps):
            return True
        now = self.clock.now()
        tokens = self._advance(now)
        if tokens < 1.0:
            return False
        self._last = now
        self._tokens = tokens - 1.0
        return True

    async def wait(self) -> None:
        """Block (on the clock) until a token is the caller's."""
        delay = self.reserve()
        if delay <= 0:
            return
        time_to_act = self.clock.now() + delay
        try:
            await self.clock.sleep(delay)
        except asyncio.CancelledError:
            self._cancel(time_to_act)
            raise

    def _cancel(self, time_to_act: float) -> None:
        now = self.clock.now()
        if time_to_act <= now or self._last_event is None:
            return
        # Reservations made after this one were spaced behind it; they keep their turns, so
        # only the part of the token they did not already count on comes back.
        restore = 1.0 - (self._last_event - time_to_act) * self.qps
        if restore <= 0:
            return
        tokens = self._advance(now) + restore
        self._last = now
        self._tokens = min(tokens, float(self.burst))
        previous_event = time_to_act - 1.0 / self.qps
        if self._last_event == time_to_act and previous_event >= now:
            self._last_event = previous_event


class BucketRateLimiter:
    """An overall limit shared by every item: client-go's BucketRateLimiter.

    Each `when` reserves a token, so a burst of failures beyond `burst` is spread out at `qps`
    per second. It keeps no per-item history: `forget` does nothing, `num_requeues` is 0.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        self.bucket = TokenBucket(qps, burst, clock)

    def when(self, item: Hashable) -> float:
        return self.bucket.reserve()

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters; every limiter sees every call."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter must record the failure, so no short-circuit.
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter: max(5 ms..1000 s per item, 10 qps burst 100)."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
