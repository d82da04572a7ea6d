"""The scheduling queue: activeQ, backoffQ and the unschedulable pool (upstream PriorityQueue).

- activeQ holds the pods ready to be tried, ordered by the profile's QueueSort plugin
  (PrioritySort: higher priority first, then the earlier enqueued); `pop()` waits for one.
- backoffQ holds pods that failed recently: a pod that failed `n` times waits
  `initial * 2^(n-1)` seconds, at most `max` (1 s and 10 s by default) counted from its last
  failure, and is moved to activeQ by the flush that runs every second.
- The unschedulable pool holds pods no node fitted, with the plugins that rejected them. A
  cluster event (`move_all(event, old, new)`) moves a pod back (to backoffQ while it is still
  backing off, else to activeQ) only if one of those plugins registered a matching event whose
  queueing hint says Queue; a pod that has waited 5 minutes is moved back regardless (the
  flush every 30 s). Pods rejected at PreEnqueue (scheduling gates) wait here gated, and only a
  pod update that makes PreEnqueue pass releases them.
- A pod that failed while a move request happened during its own cycle (something changed
  while it was being scheduled) goes to backoffQ instead of the pool, so the change is not
  missed; a pod that failed with an error (not "does not fit") always goes to backoffQ.

Time comes from a Clock, so tests drive backoff and flushing with a FakeClock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kube.api.meta import Object
from kube.client.clock import Clock, RealClock
from kube.scheduler.framework.events import (
    FORCE_ACTIVATE,
    UNSCHEDULABLE_TIMEOUT,
    ClusterEvent,
    ClusterEventWithHint,
    QueueingHint,
)
from kube.scheduler.framework.nodeinfo import pod_key
from kube.scheduler.framework.status import Status

log = logging.getLogger("kube.scheduler.queue")

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_UNSCHEDULABLE = 5 * 60.0
BACKOFF_FLUSH_INTERVAL = 1.0
UNSCHEDULABLE_FLUSH_INTERVAL = 30.0


@dataclass
class QueuedPodInfo:
    pod: Object
    timestamp: float
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    gated: bool = False
    error: bool = False

    @property
    def key(self) -> str:
        return pod_key(self.pod)


_seq = itertools.count()


class _Entry:
    __slots__ = ("info", "less", "seq", "valid")

    def __init__(self, info: QueuedPodInfo, less: Callable[[Any, Any], bool]) -> None:
        self.info = info
        self.less = less
        self.seq = next(_seq)
        self.valid = True

    def __lt__(self, other: _Entry) -> bool:
        if self.less(self.info, other.info):
            return True
        if self.less(other.info, self.info):
            return False
        return self.seq < other.seq


def _stripped(pod: Object) -> Object:
    meta = {
        k: v
        for k, v in (pod.get("metadata") or {}).items()
        if k not in ("resourceVersion", "generation", "managedFields")
    }
    return {**{k: v for k, v in pod.items() if k != "status"}, "metadata": meta}


def is_pod_updated(old: Object, new: Object) -> bool:
    """Whether anything but status and bookkeeping changed (upstream isPodUpdated)."""
    return _stripped(old) != _stripped(new)


class SchedulingQueue:
    def __init__(
        self,
        less: Callable[[Any, Any], bool],
        pre_enqueue: Callable[[Object], Status],
        hints: dict[str, list[ClusterEventWithHint]],
        *,
        clock: Clock | None = None,
        initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        max_unschedulable: float = DEFAULT_MAX_UNSCHEDULABLE,
    ) -> None:
        self.less = less
        self.pre_enqueue = pre_enqueue
        self.hints = hints
        self.clock = clock or RealClock()
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._active: dict[str, _Entry] = {}
        self._active_heap: list[_Entry] = []
        self._backoff: dict[str, QueuedPodInfo] = {}
        self.unschedulable: dict[str, QueuedPodInfo] = {}
        self.in_flight: dict[str, QueuedPodInfo] = {}
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self._wake = asyncio.Event()
        self._closed = False

    # -- inspection ------------------------------------------------------------------------

    def active_keys(self) -> list[str]:
        return [e.info.key for e in sorted(e for e in self._active_heap if e.valid)]

    def backoff_keys(self) -> list[str]:
        return sorted(self._backoff)

    def unschedulable_keys(self) -> list[str]:
        return sorted(self.unschedulable)

    def __contains__(self, key: str) -> bool:
        return key in self._active or key in self._backoff or key in self.unschedulable

    # -- backoff ---------------------------------------------------------------------------

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        duration = self.initial_backoff
        for _ in range(1, info.attempts):
            duration *= 2
            if duration > self.max_backoff:
                return self.max_backoff
        return duration

    def backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info)

    def is_backing_off(self, info: QueuedPodInfo) -> bool:
        return info.attempts > 0 and self.backoff_expiry(info) > self.clock.now()

    # -- moving pods between the queues ----------------------------------------------------

    def _push_active(self, info: QueuedPodInfo) -> bool:
        """activeQ, if PreEnqueue lets the pod in; else the pool, gated."""
        status = self.pre_enqueue(info.pod)
        if not status.is_success():
            info.gated = True
            info.unschedulable_plugins = {status.plugin} if status.plugin else set()
            self.unschedulable[info.key] = info
            return False
        info.gated = False
        self.unschedulable.pop(info.key, None)
        self._backoff.pop(info.key, None)
        old = self._active.pop(info.key, None)
        if old is not None:
            old.valid = False
        entry = _Entry(info, self.less)
        self._active[info.key] = entry
        heapq.heappush(self._active_heap, entry)
        self._wake.set()
        return True

    def _move(self, info: QueuedPodInfo) -> None:
        if info.gated:
            self._push_active(info)
        elif self.is_backing_off(info):
            self.unschedulable.pop(info.key, None)
            self._backoff[info.key] = info
        else:
            self._push_active(info)

    def add(self, pod: Object) -> None:
        """A new pending pod (or one seen again): straight to activeQ (unless gated)."""
        key = pod_key(pod)
        if key in self.in_flight:
            return
        for store in (self._backoff, self.unschedulable):
            store.pop(key, None)
        self._push_active(QueuedPodInfo(pod, self.clock.now()))

    def update(self, old: Object | None, new: Object) -> None:
        key = pod_key(new)
        if key in self.in_flight:
            self.in_flight[key].pod = new
            if old is None or is_pod_updated(old, new):
                self.move_request_cycle = self.scheduling_cycle
            return
        entry = self._active.get(key)
        if entry is not None:
            entry.info.pod = new
            return
        if key in self._backoff:
            self._backoff[key].pod = new
            return
        info = self.unschedulable.get(key)
        if info is None:
            self.add(new)
            return
        info.pod = new
        if old is None or not is_pod_updated(old, new):
            return
        if info.gated:
            self._push_active(info)
            return
        # Upstream (without hints for a pod's own updates) retries an updated pod.
        self._move(info)

    def delete(self, pod: Object) -> None:
        key = pod_key(pod)
        entry = self._active.pop(key, None)
        if entry is not None:
            entry.valid = False
        self._backoff.pop(key, None)
        self.unschedulable.pop(key, None)

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule, waiting for one; starts a new scheduling cycle."""
        while True:
            while self._active_heap:
                entry = heapq.heappop(self._active_heap)
                if not entry.valid:
                    continue
                info = entry.info
                del self._active[info.key]
                self.scheduling_cycle += 1
                info.attempts += 1
                if info.initial_attempt_timestamp is None:
                    info.initial_attempt_timestamp = self.clock.now()
                self.in_flight[info.key] = info
                return info
            if self._closed:
                raise asyncio.CancelledError("queue closed")
            self._wake.clear()
            await self._wake.wait()

    def done(self, key: str) -> None:
        self.in_flight.pop(key, None)

    def add_unschedulable(self, info: QueuedPodInfo, cycle: int) -> None:
        """A pod whose cycle failed (upstream AddUnschedulableIfNotPresent)."""
        key = info.key
        self.in_flight.pop(key, None)
        if key in self:
            return
        info.timestamp = self.clock.now()
        if info.error or not info.unschedulable_plugins or self.move_request_cycle >= cycle:
            self._backoff[key] = info
        else:
            self.unschedulable[key] = info

    def _worth_requeuing(
        self, info: QueuedPodInfo, event: ClusterEvent, old: Object | None, new: Object | None
    ) -> bool:
        if event in (UNSCHEDULABLE_TIMEOUT, FORCE_ACTIVATE) or not info.unschedulable_plugins:
            return True
        for plugin in info.unschedulable_plugins:
            for registered in self.hints.get(plugin, []):
                if not registered.event.matches(event):
                    continue
                if registered.hint is None:
                    return True
                try:
                    if registered.hint(info.pod, old, new) == QueueingHint.QUEUE:
                        return True
                except Exception:
                    log.exception("queueing hint of %s failed; requeueing", plugin)
                    return True
        return False

    def move_all(
        self, event: ClusterEvent, old: Object | None = None, new: Object | None = None
    ) -> int:
        """Move the pool's pods this event may help back to activeQ/backoffQ; how many moved."""
        moved = 0
        for info in list(self.unschedulable.values()):
            if info.gated:
                continue
            if self._worth_requeuing(info, event, old, new):
                self._move(info)
                moved += 1
        self.move_request_cycle = self.scheduling_cycle
        return moved

    def flush_backoff_completed(self) -> int:
        now = self.clock.now()
        ready = [i for i in self._backoff.values() if self.backoff_expiry(i) <= now]
        for info in ready:
            del self._backoff[info.key]
            self._push_active(info)
        return len(ready)

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock.now()
        stale = [
            i
            for i in self.unschedulable.values()
            if not i.gated and now - i.timestamp > self.max_unschedulable
        ]
        for info in stale:
            self._move(info)
        return len(stale)

    async def run(self) -> None:
        """The flushes: backoffQ every second, the pool every 30 seconds."""
        last_pool = self.clock.now()
        while not self._closed:
            await self.clock.sleep(BACKOFF_FLUSH_INTERVAL)
            self.flush_backoff_completed()
            if self.clock.now() - last_pool >= UNSCHEDULABLE_FLUSH_INTERVAL:
                last_pool = self.clock.now()
                self.flush_unschedulable_leftover()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
