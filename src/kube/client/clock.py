"""Injected time for the client machinery: a real clock on the event loop and a fake one for tests.

Everything that waits — workqueue delays, rate limiters, token buckets, resyncs, backoffs —
asks a `Clock` instead of the event loop, as client-go's code takes a `clock.Clock`. In
production that is `RealClock`, the running loop's monotonic time. In tests it is `FakeClock`,
whose time stands still until the test moves it with `await clock.advance(seconds)`; the
timers whose deadline has passed then fire in deadline order, and the loop is given a few
turns after each so the woken coroutines run before the next timer fires. Backoffs of a
thousand seconds therefore take no real time and are deterministic.

A clock has two ways to wait: `sleep` / `sleep_until` for a coroutine, and `call_at` for a
plain callback (what the delaying queue uses, so it needs no background task).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback; `cancel()` before it fires stops it (after, it does nothing)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds, and ways to wait for it."""

    def now(self) -> float:
        """Monotonic seconds; only differences between two readings mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed (at once, after one loop turn, if <= 0)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once `now() >= deadline`."""
        ...

    def call_at(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback()` on the event loop once `now() >= deadline`."""
        ...


class RealClock:
    """The running event loop's clock (`loop.time()`, monotonic).

    Outside a running loop `now()` falls back to `time.monotonic()`, which is what the default
    loop's `time()` returns, so readings taken before and inside the loop compare correctly.
    `call_at` needs a running loop.
    """

    def now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(deadline - self.now(), 0.0))

    def call_at(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_at(deadline, callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], object]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Time that moves only when the test says so.

    `advance(seconds)` (alias `step`, client-go's name) fires every timer whose deadline falls
    within the step, earliest first, setting `now()` to each timer's deadline as it fires, and
    yields to the event loop `settle_turns` times before and after each one so that the woken
    coroutines run (and may schedule further timers inside the same step) before time moves on.
    A timer scheduled at or before the current time fires on the next `advance` (`advance(0)`
    included); `sleep(0)` and `sleep_until(past)` return after one loop turn.
    """

    def __init__(self, start: float = 0.0, *, settle_turns: int = 20) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()
        self.settle_turns = settle_turns

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = self.call_at(deadline, wake)
        try:
            await waiter
        finally:
            timer.cancel()

    def call_at(self, deadline: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _FakeTimer(deadline, callback)
        heapq.heappush(self._timers, (deadline, next(self._seq), timer))
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing the timers that fall due on the way."""
        if seconds < 0:
            raise ValueError(f"a fake clock cannot go backwards ({seconds} s)")
        await self.advance_to(self._now + seconds)

    step = advance

    async def advance_to(self, target: float) -> None:
        """Move time forward to `target` (never backwards), firing due timers in order."""
        await self._settle()
        while self._timers and self._timers[0][0] <= target:
            deadline, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, deadline)
            timer.callback()
            await self._settle()
        self._now = max(self._now, target)
        await self._settle()

    def pending(self) -> int:
        """How many timers (sleepers included) are waiting to fire."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest deadline still waiting, or None."""
        live = [deadline for deadline, _, timer in self._timers if not timer.cancelled]
        return min(live, default=None)

    async def _settle(self) -> None:
        for _ in range(self.settle_turns):
            await asyncio.sleep(0)
