"""The injected clocks: FakeClock moves only when told, firing timers in deadline order."""

from __future__ import annotations

import asyncio

import pytest

from kube.client.clock import FakeClock, RealClock


async def test_sleepers_wake_in_deadline_order_at_their_deadline() -> None:
    clock = FakeClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [
        asyncio.create_task(sleeper("c", 3)),
        asyncio.create_task(sleeper("a", 1)),
        asyncio.create_task(sleeper("b", 2)),
    ]
    await clock.advance(0.5)
    assert woke == []
    assert clock.now() == 100.5
    assert clock.pending() == 3
    await clock.advance(2)
    assert woke == [("a", 101.0), ("b", 102.0)]
    assert clock.now() == 102.5
    await clock.step(10)
    assert woke[-1] == ("c", 103.0)
    assert clock.now() == 112.5
    await asyncio.gather(*tasks)
    assert clock.pending() == 0


async def test_a_chain_of_sleeps_within_one_advance_sees_each_deadline() -> None:
    clock = FakeClock()
    seen: list[float] = []

    async def ticker() -> None:
        for _ in range(4):
            await clock.sleep(1)
            seen.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(3.5)
    assert seen == [1.0, 2.0, 3.0]
    await clock.advance(1)
    assert seen == [1.0, 2.0, 3.0, 4.0]
    await task


async def test_sleep_until_a_past_deadline_returns_at_once() -> None:
    clock = FakeClock(start=5.0)
    await clock.sleep_until(4.0)
    await clock.sleep(0)
    assert clock.now() == 5.0
    assert clock.pending() == 0


async def test_call_at_fires_once_and_cancel_stops_it() -> None:
    clock = FakeClock()
    fired: list[str] = []
    clock.call_at(2.0, lambda: fired.append("kept"))
    cancelled = clock.call_at(1.0, lambda: fired.append("cancelled"))
    cancelled.cancel()
    assert clock.next_deadline() == 2.0
    await clock.advance(5)
    await clock.advance(5)
    assert fired == ["kept"]
    assert clock.next_deadline() is None


async def test_a_cancelled_sleeper_leaves_no_timer() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    assert clock.pending() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending() == 0


async def test_fake_time_never_goes_backwards() -> None:
    clock = FakeClock(start=1.0)
    with pytest.raises(ValueError, match="backwards"):
        await clock.advance(-1)
    await clock.advance_to(0.5)
    assert clock.now() == 1.0


async def test_real_clock_is_the_loop_clock() -> None:
    clock = RealClock()
    loop = asyncio.get_running_loop()
    before = loop.time()
    assert before <= clock.now() <= loop.time()
    fired = asyncio.Event()
    clock.call_at(clock.now(), fired.set)
    await asyncio.wait_for(fired.wait(), 1)
    await clock.sleep(0)
    await clock.sleep_until(clock.now() - 1)


def test_real_clock_reads_monotonic_time_outside_a_loop() -> None:
    clock = RealClock()
    first = clock.now()
    assert clock.now() >= first
