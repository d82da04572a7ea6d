"""The workqueue's promises: one key per worker, bursts collapse, FIFO, delays, drain."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from kube.client.clock import FakeClock
from kube.client.ratelimit import ItemExponentialFailureRateLimiter
from kube.client.workqueue import (
    DelayingQueue,
    RateLimitingQueue,
    ShutDown,
    WorkQueue,
    workqueue_metrics,
)

KEYS = ["default/a", "default/b", "default/c", "kube-system/d"]


async def drain(queue: WorkQueue[str]) -> list[str]:
    """Everything queued right now, each marked done as it is taken."""
    taken = []
    while len(queue):
        key = await queue.get()
        taken.append(key)
        queue.done(key)
    return taken


# --- WorkQueue ---------------------------------------------------------------------------------


async def test_fifo_and_duplicates_collapse() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ["b", "a", "b", "c", "a", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert await drain(queue) == ["b", "a", "c"]


async def test_a_burst_of_events_for_one_key_is_one_sync() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(100):
        queue.add("default/web")
    assert await drain(queue) == ["default/web"]


async def test_a_key_added_while_processing_waits_for_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # dirty, not handed out while its worker holds it
    assert queue.processing() == 1
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    queue.done("a")  # a second done cannot queue it again
    assert len(queue) == 0


async def test_get_waits_for_an_add() -> None:
    queue: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_a_cancelled_get_loses_no_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("x")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "x"


async def test_shutdown_wakes_getters_hands_out_what_is_left_then_raises() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await waiting

    queue = WorkQueue()
    queue.add("a")
    queue.add("b")
    queue.shutdown()
    assert queue.shutting_down()
    queue.add("c")  # ignored
    assert await drain(queue) == ["a", "b"]
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_with_drain_waits_for_keys_in_flight() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("b")
    a = await queue.get()
    b = await queue.get()
    draining = asyncio.create_task(queue.shutdown_with_drain())
    await asyncio.sleep(0)
    assert not draining.done()
    queue.done(a)
    await asyncio.sleep(0)
    assert not draining.done()
    queue.done(b)
    await asyncio.wait_for(draining, 1)
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_stops_a_drain() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    await queue.get()
    draining = asyncio.create_task(queue.shutdown_with_drain())
    await asyncio.sleep(0)
    queue.shutdown()
    await asyncio.wait_for(draining, 1)
    assert queue.processing() == 1


async def test_shutdown_with_drain_and_nothing_in_flight_returns_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    await asyncio.wait_for(queue.shutdown_with_drain(), 1)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.sampled_from(KEYS)),
            st.tuples(st.sampled_from(["get", "done"]), st.integers(0, 2)),
        ),
        max_size=80,
    )
)
def test_interleavings_never_give_one_key_to_two_workers(ops: list[tuple[str, object]]) -> None:
    """Random add/get/done by three workers: no key is held twice, and each is synced after
    its last add, at most once per add."""

    async def run() -> None:
        queue: WorkQueue[str] = WorkQueue()
        held: dict[int, str] = {}
        last_add: dict[str, int] = {}
        adds: dict[str, int] = defaultdict(int)
        starts: dict[str, list[int]] = defaultdict(list)

        async def take(step: int, worker: int) -> None:
            key = await queue.get()
            assert key not in held.values()
            held[worker] = key
            starts[key].append(step)

        step = 0
        for op, arg in ops:
            step += 1
            if op == "add":
                assert isinstance(arg, str)
                queue.add(arg)
                last_add[arg] = step
                adds[arg] += 1
            elif op == "get" and arg not in held and len(queue):
                assert isinstance(arg, int)
                await take(step, arg)
            elif op == "done" and arg in held:
                assert isinstance(arg, int)
                queue.done(held.pop(arg))
            queued = list(queue._queue)
            assert len(queued) == len(set(queued))
            assert not set(queued) & set(held.values())
        # Workers finish what they hold; then one worker takes everything left.
        for worker in list(held):
            step += 1
            queue.done(held.pop(worker))
        while len(queue):
            step += 1
            await take(step, 0)
            queue.done(held.pop(0))
        assert queue.processing() == 0
        for key, added in last_add.items():
            assert any(start > added for start in starts[key]), key
            assert len(starts[key]) <= adds[key]

    asyncio.run(run())


@settings(max_examples=100, deadline=None)
@given(
    adds=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 8)), max_size=40),
    durations=st.lists(st.integers(0, 3), min_size=1, max_size=7),
)
def test_concurrent_workers_on_fake_time(adds: list[tuple[str, int]], durations: list[int]) -> None:
    """Four worker tasks with varied sync times while keys are added over time."""

    async def run() -> None:
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        active: set[str] = set()
        events = 0
        last_add: dict[str, int] = {}
        starts: dict[str, list[int]] = defaultdict(list)

        async def worker(index: int) -> None:
            nonlocal events
            turn = index
            while True:
                try:
                    key = await queue.get()
                except ShutDown:
                    return
                assert key not in active
                active.add(key)
                events += 1
                starts[key].append(events)
                await clock.sleep(durations[turn % len(durations)])
                turn += 1
                active.discard(key)
                queue.done(key)

        workers = [asyncio.create_task(worker(i)) for i in range(4)]
        for now in range(9):
            for key, at in adds:
                if at == now:
                    events += 1
                    queue.add(key)
                    last_add[key] = events
            await clock.advance(1)
        for _ in range(200):
            if not len(queue) and not queue.processing():
                break
            await clock.advance(1)
        await queue.shutdown_with_drain()
        await asyncio.gather(*workers)
        for key, added in last_add.items():
            assert any(start > added for start in starts[key]), key

    asyncio.run(run())


# --- DelayingQueue -----------------------------------------------------------------------------


async def test_add_after_hands_keys_out_in_ready_order() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("late", 3)
    queue.add_after("soon", 1)
    queue.add_after("tie-1", 2)
    queue.add_after("tie-2", 2)
    queue.add_after("now", 0)
    assert await drain(queue) == ["now"]
    assert queue.waiting() == 4
    await clock.advance(0.999)
    assert len(queue) == 0
    await clock.advance(0.001)
    assert await drain(queue) == ["soon"]
    await clock.advance(5)
    assert await drain(queue) == ["tie-1", "tie-2", "late"]
    assert queue.waiting() == 0
    assert clock.pending() == 0


async def test_re_adding_earlier_moves_a_key_later_does_not() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("k", 10)
    queue.add_after("k", 2)
    queue.add_after("k", 5)
    await clock.advance(2)
    assert await drain(queue) == ["k"]
    await clock.advance(20)
    assert len(queue) == 0  # the superseded entries do not fire
    assert queue.waiting() == 0


async def test_a_delayed_key_that_is_already_queued_collapses() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add("k")
    queue.add_after("k", 1)
    await clock.advance(1)
    assert await drain(queue) == ["k"]


async def test_a_getter_waits_for_the_delay() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    getter = asyncio.create_task(queue.get())
    queue.add_after("k", 30)
    await clock.advance(29)
    assert not getter.done()
    await clock.advance(1)
    assert getter.done()
    assert getter.result() == "k"


async def test_shutdown_discards_waiting_keys() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("k", 1)
    queue.shutdown()
    queue.add_after("j", 1)
    assert clock.pending() == 0
    await clock.advance(5)
    with pytest.raises(ShutDown):
        await queue.get()


# --- RateLimitingQueue -------------------------------------------------------------------------


async def test_add_rate_limited_backs_off_until_forgotten() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        rate_limiter=ItemExponentialFailureRateLimiter(base=1, max_delay=60), clock=clock
    )
    queue.add_rate_limited("k")
    queue.add_rate_limited("k")  # second failure: 2 s, but the 1 s entry stays first
    assert queue.num_requeues("k") == 2
    await clock.advance(1)
    assert await drain(queue) == ["k"]
    queue.forget("k")
    assert queue.num_requeues("k") == 0
    queue.add_rate_limited("k")
    await clock.advance(0.5)
    assert len(queue) == 0
    await clock.advance(0.5)
    assert await drain(queue) == ["k"]


async def test_default_rate_limiter_is_client_gos() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    for _ in range(3):
        queue.add_rate_limited("k")  # 5 ms, 10 ms, 20 ms: the earliest wins
    await clock.advance(0.004)
    assert len(queue) == 0
    await clock.advance(0.001)
    assert len(queue) == 1


# --- Metrics -----------------------------------------------------------------------------------


async def test_named_queues_report_upstreams_metrics() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("deployment", clock=clock, registry=registry)
    other: WorkQueue[str] = WorkQueue("replicaset", clock=clock, registry=registry)
    assert workqueue_metrics(registry) is workqueue_metrics(registry)  # registered once
    queue.add("a")
    queue.add("a")
    queue.add("b")
    other.add("x")

    def sample(name: str, queue_name: str = "deployment") -> float | None:
        return registry.get_sample_value(name, {"name": queue_name})

    assert sample("workqueue_depth") == 2
    assert sample("workqueue_adds_total") == 2
    assert sample("workqueue_depth", "replicaset") == 1
    await clock.advance(3)
    key = await queue.get()
    await clock.advance(2)
    queue.done(key)
    assert sample("workqueue_depth") == 1
    assert sample("workqueue_queue_duration_seconds_sum") == 3
    assert sample("workqueue_work_duration_seconds_sum") == 2
    assert sample("workqueue_work_duration_seconds_count") == 1
    queue.add_rate_limited("a")
    assert sample("workqueue_retries_total") == 1


async def test_unnamed_queues_report_nothing() -> None:
    registry = CollectorRegistry()
    queue: WorkQueue[str] = WorkQueue(registry=registry)
    queue.add("a")
    assert registry.get_sample_value("workqueue_adds_total", {"name": ""}) is None
