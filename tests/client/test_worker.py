"""The shared worker loop: forget on success, back off on failure, give up after max_retries."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import pytest

from kube.client.clock import FakeClock
from kube.client.worker import process_next_item, run_workers
from kube.client.workqueue import RateLimitingQueue


class Controller:
    """A fake sync(key) that fails the first `failures[key]` times and records when it ran."""

    def __init__(self, clock: FakeClock, failures: dict[str, int] | None = None) -> None:
        self.clock = clock
        self.failures = failures or {}
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.active: set[str] = set()
        self.sync_seconds = 0.0

    async def sync(self, key: str) -> None:
        assert key not in self.active, f"two workers on {key}"
        self.active.add(key)
        try:
            self.calls[key].append(self.clock.now())
            if self.sync_seconds:
                await self.clock.sleep(self.sync_seconds)
            if len(self.calls[key]) <= self.failures.get(key, 0):
                raise RuntimeError(f"sync of {key} failed")
        finally:
            self.active.discard(key)


async def stop(queue: RateLimitingQueue[str], workers: asyncio.Task[None]) -> None:
    queue.shutdown()
    await asyncio.wait_for(workers, 1)


async def test_success_forgets_and_failures_back_off_exponentially() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    controller = Controller(clock, failures={"default/web": 3})
    workers = asyncio.create_task(run_workers(queue, controller.sync, 2))
    queue.add("default/ok")
    queue.add("default/web")
    await clock.advance(1)
    assert controller.calls["default/ok"] == [0.0]
    # Retries after 5 ms, then 10 ms, then 20 ms: at 0.005, 0.015, 0.035.
    assert controller.calls["default/web"] == pytest.approx([0.0, 0.005, 0.015, 0.035])
    assert queue.num_requeues("default/web") == 0  # forgotten once it succeeded
    await stop(queue, workers)


async def test_gives_up_after_max_retries_with_a_logged_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue("deployment", clock=clock)
    controller = Controller(clock, failures={"default/broken": 1000})
    workers = asyncio.create_task(run_workers(queue, controller.sync, max_retries=3))
    with caplog.at_level(logging.INFO, logger="kube.client.worker"):
        queue.add("default/broken")
        await clock.advance(100)
    assert len(controller.calls["default/broken"]) == 4  # the first try and 3 retries
    assert queue.num_requeues("default/broken") == 0
    assert clock.pending() == 0  # nothing left waiting to retry
    dropped = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(dropped) == 1
    assert dropped[0].getMessage() == (
        "deployment: dropping 'default/broken' out of the queue after 3 retries: "
        "sync of default/broken failed"
    )
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert retries[0] == (
        "deployment: error syncing 'default/broken' (retry 1): sync of default/broken failed"
    )
    # A new event for the object starts it over.
    queue.add("default/broken")
    await clock.advance(0)
    assert len(controller.calls["default/broken"]) == 5
    await stop(queue, workers)


async def test_max_retries_none_retries_forever() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    controller = Controller(clock, failures={"k": 25})
    workers = asyncio.create_task(run_workers(queue, controller.sync, max_retries=None))
    queue.add("k")
    await clock.advance(10_000)
    calls = controller.calls["k"]
    assert len(calls) == 26
    # 5 ms doubling reaches the 1000 s cap at the 19th retry.
    assert calls[18] - calls[17] == pytest.approx(0.005 * 2**17)
    assert calls[25] - calls[24] == pytest.approx(1000)
    assert queue.num_requeues("k") == 0
    await stop(queue, workers)


async def test_an_exception_never_stops_the_workers() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    seen: list[str] = []

    async def sync(key: str) -> None:
        seen.append(key)
        if key.startswith("bad"):
            raise ValueError(key)

    workers = asyncio.create_task(run_workers(queue, sync, 1, max_retries=0))
    for key in ["bad-1", "good-1", "bad-2", "good-2"]:
        queue.add(key)
    await clock.advance(0)
    assert seen == ["bad-1", "good-1", "bad-2", "good-2"]
    assert not workers.done()
    await stop(queue, workers)


async def test_a_key_re_added_during_its_sync_is_synced_again_by_one_worker() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    controller = Controller(clock)
    controller.sync_seconds = 1.0
    workers = asyncio.create_task(run_workers(queue, controller.sync, 4))
    queue.add("k")
    await clock.advance(0.5)
    for _ in range(10):
        queue.add("k")  # an event burst while the first sync runs
    await clock.advance(5)
    assert controller.calls["k"] == [0.0, 1.0]
    await stop(queue, workers)


async def test_workers_stop_when_the_queue_shuts_down_after_draining() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    controller = Controller(clock)
    controller.sync_seconds = 2.0
    workers = asyncio.create_task(run_workers(queue, controller.sync, 2))
    queue.add("a")
    queue.add("b")
    await clock.advance(1)
    draining = asyncio.create_task(queue.shutdown_with_drain())
    await clock.advance(0)
    assert not draining.done()
    await clock.advance(1)
    await asyncio.wait_for(draining, 1)
    await asyncio.wait_for(workers, 1)
    assert sorted(controller.calls) == ["a", "b"]


async def test_cancelling_the_workers_still_marks_keys_done() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    controller = Controller(clock)
    controller.sync_seconds = 10.0
    workers = asyncio.create_task(run_workers(queue, controller.sync, 1))
    queue.add("k")
    await clock.advance(1)
    assert queue.processing() == 1
    workers.cancel()
    with pytest.raises(asyncio.CancelledError):
        await workers
    assert queue.processing() == 0


async def test_process_next_item_reports_shutdown() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=FakeClock())
    queue.shutdown()

    async def sync(key: str) -> None:
        raise AssertionError("no key to sync")

    assert await process_next_item(queue, sync) is False
    with pytest.raises(ValueError, match="workers"):
        await run_workers(queue, sync, 0)
