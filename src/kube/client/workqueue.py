"""Work queues for controllers: client-go's util/workqueue on asyncio.

A controller does not act on events; it puts the *key* of the object that changed
(`namespace/name`) on a queue, and workers take keys off and reconcile the object's current
state. The queue keeps three promises that make this correct and cheap:

- **One worker per key.** A key handed out by `get` is *processing* until its worker calls
  `done`. If the key is added again meanwhile it is only marked *dirty*; `done` puts it back
  on the queue, so it is reconciled again (seeing the newest state) but never by two workers
  at once.
- **Bursts collapse.** A key that is already waiting is not queued twice: a hundred events for
  one object before a worker gets to it make one sync.
- **FIFO otherwise**, so no key starves.

`DelayingQueue` adds `add_after(key, seconds)`: the key joins the queue once the delay has
passed on the injected clock (an earlier time for a waiting key moves it earlier, a later one
is ignored). `RateLimitingQueue` adds `add_rate_limited(key)`, which asks a `RateLimiter` how
long this key should back off, plus `forget` and `num_requeues`; `kube.client.worker` is the
loop that drives it.

Shutdown: `shutdown()` stops accepting adds and wakes every waiting `get`. Keys still on the
queue are handed out as before; once it is empty, `get` raises `ShutDown` (client-go's
`Get` returns `shutdown=true`; here it is an exception so a worker cannot forget to check).
`await shutdown_with_drain()` does the same and then waits until every key being processed
is `done`.

Metrics (optional): a queue with a `name` reports upstream's `workqueue_depth`,
`workqueue_adds_total`, `workqueue_queue_duration_seconds`, `workqueue_work_duration_seconds`
and `workqueue_retries_total`, labelled `name`, to the given prometheus registry or to the
process-wide default one. An unnamed queue reports nothing.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import weakref
from collections import deque
from collections.abc import Hashable
from contextlib import suppress
from typing import Generic, Protocol, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kube.client.clock import Clock, RealClock, TimerHandle
from kube.client.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by `get` once the queue is shut down and has nothing left to hand out."""


# ---------------------------------------------------------------------------------------------
# Metrics


# Upstream's buckets: prometheus.ExponentialBuckets(10e-9, 10, 10), 10 ns .. 10 s.
DURATION_BUCKETS = tuple(10e-9 * 10**i for i in range(10))


class _Metrics(Protocol):
    def add(self, item: Hashable) -> None: ...
    def get(self, item: Hashable) -> None: ...
    def done(self, item: Hashable) -> None: ...
    def retry(self) -> None: ...


class _NoMetrics:
    def add(self, item: Hashable) -> None:
        pass

    def get(self, item: Hashable) -> None:
        pass

    def done(self, item: Hashable) -> None:
        pass

    def retry(self) -> None:
        pass


class WorkQueueMetricsProvider:
    """The workqueue collectors of one prometheus registry, shared by all queues reporting there.

    Obtain it with `workqueue_metrics(registry)`, which creates the collectors once per
    registry (registering the same metric name twice is an error in prometheus_client).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["name"]
        self.depth = Gauge(
            "workqueue_depth", "Current depth of workqueue", labels, registry=registry
        )
        self.adds = Counter(
            "workqueue_adds", "Total number of adds handled by workqueue", labels, registry=registry
        )
        self.latency = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            labels,
            registry=registry,
        )

    def for_queue(self, name: str, clock: Clock) -> _QueueMetrics:
        return _QueueMetrics(self, name, clock)


_providers: weakref.WeakKeyDictionary[CollectorRegistry, WorkQueueMetricsProvider] = (
    weakref.WeakKeyDictionary()
)


def workqueue_metrics(registry: CollectorRegistry | None = None) -> WorkQueueMetricsProvider:
    """The workqueue metrics of `registry` (default: prometheus_client's global registry)."""
    registry = registry if registry is not None else prometheus_client.REGISTRY
    provider = _providers.get(registry)
    if provider is None:
        provider = _providers[registry] = WorkQueueMetricsProvider(registry)
    return provider


class _QueueMetrics:
    """One queue's series; times queue latency (add -> get) and work duration (get -> done)."""

    def __init__(self, provider: WorkQueueMetricsProvider, name: str, clock: Clock) -> None:
        self.clock = clock
        self.depth = provider.depth.labels(name)
        self.adds = provider.adds.labels(name)
        self.latency = provider.latency.labels(name)
        self.work_duration = provider.work_duration.labels(name)
        self.retries = provider.retries.labels(name)
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}

    def add(self, item: Hashable) -> None:
        self.depth.inc()
        self.adds.inc()
        self._added_at.setdefault(item, self.clock.now())

    def get(self, item: Hashable) -> None:
        self.depth.dec()
        now = self.clock.now()
        self._started_at[item] = now
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self.latency.observe(now - added_at)

    def done(self, item: Hashable) -> None:
        started_at = self._started_at.pop(item, None)
        if started_at is not None:
            self.work_duration.observe(self.clock.now() - started_at)

    def retry(self) -> None:
        self.retries.inc()


# ---------------------------------------------------------------------------------------------
# Queues


class WorkQueue(Generic[T]):
    """A FIFO of keys in which a key is queued at most once and processed by one worker at a time.

    State, as in client-go: `_queue` is the order of keys to hand out; `_dirty` holds every key
    that needs processing (all of `_queue`, plus keys re-added while processing); `_processing`
    holds the keys handed out and not yet `done`. A key is in `_queue` only if it is dirty and
    not processing, which is what keeps two workers off one key.
    """

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or RealClock()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._shutting_down = False
        self._drain = False
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drainers: list[asyncio.Future[None]] = []
        self._metrics: _Metrics = (
            workqueue_metrics(registry).for_queue(name, self.clock) if name else _NoMetrics()
        )

    def add(self, item: T) -> None:
        """Mark `item` as needing processing. Ignored after shutdown."""
        if self._shutting_down or item in self._dirty:
            return
        self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            return  # `done` will queue it again
        self._queue.append(item)
        self._wake_getter()

    def __len__(self) -> int:
        """How many keys are waiting to be handed out (not those being processed)."""
        return len(self._queue)

    async def get(self) -> T:
        """Wait for the next key and mark it processing; raise `ShutDown` when there is none left.

        The caller must call `done(key)` when it has finished with the key, whatever happened.
        """
        while not self._queue and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                with suppress(ValueError):
                    self._getters.remove(waiter)
                # A wake-up that reached this getter as it was cancelled goes to the next one.
                if self._queue and not waiter.cancelled():
                    self._wake_getter()
                raise
        if not self._queue:
            raise ShutDown(self.name or "workqueue")
        item = self._queue.popleft()
        self._metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        """Finish processing `item`; if it was added meanwhile, queue it again.

        `done` for a key that is not being processed does nothing (calling it twice cannot
        queue a key twice).
        """
        if item not in self._processing:
            return
        self._metrics.done(item)
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_getter()
        elif not self._processing:
            self._wake_all(self._drainers)

    def shutdown(self) -> None:
        """Stop accepting adds and wake every `get`; queued keys are still handed out."""
        self._drain = False
        self._shut()
        self._wake_all(self._drainers)

    async def shutdown_with_drain(self) -> None:
        """`shutdown`, then wait until every key being processed is `done`.

        A plain `shutdown()` meanwhile stops the wait, as in client-go.
        """
        self._drain = True
        self._shut()
        while self._processing and self._drain:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drainers.append(waiter)
            try:
                await waiter
            finally:
                with suppress(ValueError):
                    self._drainers.remove(waiter)

    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self) -> int:
        """How many keys are handed out and not yet `done`."""
        return len(self._processing)

    def _shut(self) -> None:
        self._shutting_down = True
        self._wake_all(self._getters)
        self._on_shutdown()

    def _on_shutdown(self) -> None:
        """Hook for subclasses that hold keys outside the queue."""

    def _wake_getter(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    @staticmethod
    def _wake_all(waiters: deque[asyncio.Future[None]] | list[asyncio.Future[None]]) -> None:
        while waiters:
            waiter = waiters.pop()
            if not waiter.done():
                waiter.set_result(None)


class DelayingQueue(WorkQueue[T]):
    """A `WorkQueue` whose keys can be added after a delay on the injected clock.

    Waiting keys sit in a heap ordered by ready time (ties in the order they were added) with
    one clock timer armed for the earliest. A key waits at most once: re-adding it with an
    earlier ready time moves it earlier, with a later one changes nothing. Superseded heap
    entries are skipped when they surface. Shutdown discards the waiting keys.
    """

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(name, clock=clock, registry=registry)
        self._waiting: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._timer: TimerHandle | None = None
        self._timer_deadline = 0.0

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` once `delay` seconds have passed (at once if `delay <= 0`)."""
        if self._shutting_down:
            return
        self._metrics.retry()
        if delay <= 0:
            self.add(item)
            return
        ready_at = self.clock.now() + delay
        known = self._ready_at.get(item)
        if known is not None and known[0] <= ready_at:
            return
        seq = next(self._seq)
        self._ready_at[item] = (ready_at, seq)
        heapq.heappush(self._waiting, (ready_at, seq, item))
        self._arm()

    def waiting(self) -> int:
        """How many keys are waiting for their delay to pass."""
        return len(self._ready_at)

    def _is_current(self, entry: tuple[float, int, T]) -> bool:
        ready_at, seq, item = entry
        return self._ready_at.get(item) == (ready_at, seq)

    def _arm(self) -> None:
        """Make sure a timer is set for the earliest waiting key (and none if nothing waits)."""
        while self._waiting and not self._is_current(self._waiting[0]):
            heapq.heappop(self._waiting)
        if not self._waiting:
            self._disarm()
            return
        deadline = self._waiting[0][0]
        if self._timer is not None and self._timer_deadline <= deadline:
            return
        self._disarm()
        self._timer = self.clock.call_at(deadline, functools.partial(self._fire, deadline))
        self._timer_deadline = deadline

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, deadline: float) -> None:
        self._timer = None
        # The loop may run a timer a clock-resolution early; it is due all the same.
        now = max(self.clock.now(), deadline)
        while self._waiting and self._waiting[0][0] <= now:
            entry = heapq.heappop(self._waiting)
            if self._is_current(entry):
                del self._ready_at[entry[2]]
                self.add(entry[2])
        self._arm()

    def _on_shutdown(self) -> None:
        self._disarm()
        self._waiting.clear()
        self._ready_at.clear()


class RateLimitingQueue(DelayingQueue[T]):
    """A `DelayingQueue` whose retries are spaced by a `RateLimiter`.

    `add_rate_limited(key)` after a failed sync, `forget(key)` after a successful one (or when
    giving up), `num_requeues(key)` to decide when to give up. The default limiter is
    client-go's DefaultControllerRateLimiter on the queue's clock.
    """

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(name, clock=clock, registry=registry)
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(self.clock)

    def add_rate_limited(self, item: T) -> None:
        """Add `item` after the backoff its limiter assigns (recording one more failure)."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Clear `item`'s failure history; it does not remove the item from the queue."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
