"""Writing events.k8s.io/v1 Events, as client-go's tools/events broadcaster does.

The newer event API is what kube-scheduler records with (`Scheduled`, `FailedScheduling`,
`Preempted`) and what upstream's scheduler_perf harness writes, one Event per bound pod. An
Event of this API names the controller that reported it (`reportingController`,
`reportingInstance`), what it did (`action`) and about what (`regarding`, optionally
`related`); `note` is the message. `kubectl describe` shows them like core Events (the server
stores both in one form, see `kube.api.conversion`).

How the writes behave, after client-go's eventBroadcasterImpl:

- `Recorder.eventf(...)` never blocks: it builds the Event and starts its write. At most 1000
  events (maxQueuedEvents) are waiting or in flight; past that they are dropped with a log
  line, so a component outpacing the server sheds events, never its own work.
- Each event is written on its own (upstream starts a goroutine per event), so a slow write
  does not hold back the next.
- Isomorphic events (same action, reason, reporting controller, regarding and related) are
  kept for 6 minutes: a repeat turns the first into a series (`series.count`,
  `series.lastObservedTime`), written as a strategic-merge PATCH; later repeats only bump the
  kept count, which is written every 30 minutes and when the series ends (no repeat for
  6 minutes).
- A write that fails for a reason worth retrying (no connection, a 5xx, 429) is retried up to
  12 times, about 10 s apart (jittered by 25 %); a rejected one (4xx) is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.clock import Clock, RealClock
from kube.client.events import UniqueNanos, reference_of
from kube.client.rest import JSON, RESTClient
from kube.codec import jsonc

log = logging.getLogger("kube.events")

EVENTS_V1 = resource("events", "events.k8s.io")

MAX_QUEUED_EVENTS = 1000
MAX_TRIES_PER_EVENT = 12
RETRY_SLEEP = 10.0
RETRY_JITTER = 0.25
# A series not seen for this long is finished (its final count written, its key forgotten);
# so is a single event this old.
FINISH_AFTER = 6 * 60.0
# Series still going are rewritten this often, so their Events outlive the server's TTL.
REFRESH_EVERY = 30 * 60.0


def micro_time(ns: int) -> str:
    """A MicroTime (RFC 3339, microseconds, UTC) for wall-clock nanoseconds."""
    stamp = dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ref_key(ref: dict[str, Any] | None) -> tuple[str, ...]:
    ref = ref or {}
    return tuple(
        str(ref.get(k) or "")
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    )


def isomorphic_key(event: Object) -> tuple[Any, ...]:
    """client-go's getKey: events that differ only in time and note are one series."""
    return (
        event.get("action"),
        event.get("reason"),
        event.get("reportingController"),
        _ref_key(event.get("regarding")),
        _ref_key(event.get("related")),
    )


class EventBroadcaster:
    """Writes the Events of its recorders; `start()` it, `stop()` to flush at exit."""

    def __init__(
        self,
        client: RESTClient,
        *,
        clock: Clock | None = None,
        max_queued: int = MAX_QUEUED_EVENTS,
        retry_sleep: float = RETRY_SLEEP,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.max_queued = max_queued
        self.retry_sleep = retry_sleep
        self.nanos = UniqueNanos(wall_ns)
        self.dropped = 0
        self.written = 0
        # Isomorphic key -> the Event as last written (or being written), with the
        # monotonic time it was last seen; what series are built from.
        self._cache: dict[tuple[Any, ...], tuple[Object, float]] = {}
        self._waiting: list[Object] = []  # recorded before start()
        self._writes: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.Task[None]] = []
        self._started = False

    def new_recorder(self, reporting_controller: str, host: str | None = None) -> Recorder:
        """A recorder for one controller; its instance is `<controller>-<hostname>`."""
        return Recorder(self, reporting_controller, host)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start writing (idempotent; needs a running loop); events recorded so far go first."""
        if self._started:
            return
        self._started = True
        self._timers = [
            asyncio.create_task(self._every(REFRESH_EVERY, self._refresh_series)),
            asyncio.create_task(self._every(FINISH_AFTER, self._finish_series)),
        ]
        waiting, self._waiting = self._waiting, []
        for event in waiting:
            self._spawn(event)

    async def stop(self, grace: float = 5.0) -> None:
        """Let the writes in flight finish (for up to `grace` seconds), then stop."""
        if not self._started:
            return
        self._started = False
        if self._writes:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.gather(*list(self._writes), return_exceptions=True)
        tasks = [*self._writes, *self._timers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if unwritten := len(self._writes):
            log.warning("stopping with %d events not written", unwritten)
        self._writes.clear()
        self._timers = []

    async def flush(self) -> None:
        """Wait until every write started so far has ended."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    # -- recording ---------------------------------------------------------------------------

    def record(self, event: Object) -> None:
        """Queue one Event; dropped (and counted) when 1000 are already waiting."""
        queued = len(self._writes) + len(self._waiting)
        if queued >= self.max_queued:
            self.dropped += 1
            log.error(
                "event queue is full (%d), dropping event %s %s: %s",
                self.max_queued,
                event.get("reason"),
                (event.get("regarding") or {}).get("name", ""),
                event.get("note"),
            )
            return
        if not self._started:
            self._waiting.append(event)
            return
        self._spawn(event)

    def _spawn(self, event: Object) -> None:
        to_write = self._correlate(event)
        if to_write is not None:
            self._rewrite(to_write)

    def _correlate(self, event: Object) -> Object | None:
        """The Event to write for `event`, or None when it only bumps a kept series."""
        key = isomorphic_key(event)
        now = self.clock.now()
        kept = self._cache.get(key)
        if kept is None:
            self._cache[key] = (event, now)
            return event
        first, _ = kept
        series = first.get("series")
        observed = micro_time(self.nanos())
        if series is not None:
            series["count"] += 1
            series["lastObservedTime"] = observed
            self._cache[key] = (first, now)
            return None
        # The first repeat: the kept Event becomes a series (validation wants count >= 2).
        first = {**first, "series": {"count": 2, "lastObservedTime": observed}}
        self._cache[key] = (first, now)
        return first

    async def _attempt(self, event: Object) -> None:
        for tries in range(1, MAX_TRIES_PER_EVENT + 1):
            written, retry = await self._write(event)
            if not retry:
                if written is not None:
                    self.written += 1
                    key = isomorphic_key(written)
                    kept = self._cache.get(key)
                    if kept is not None:
                        # Keep the count observed meanwhile; take the server's name and version.
                        series = kept[0].get("series")
                        if series is not None and written.get("series") is not None:
                            written = {**written, "series": series}
                        self._cache[key] = (written, kept[1])
                return
            if tries == MAX_TRIES_PER_EVENT:
                break
            jitter = 1.0 + RETRY_JITTER * random.random()
            await self.clock.sleep(self.retry_sleep * jitter)
        log.error("unable to write event %s (retry limit exceeded!)", event.get("reason"))

    async def _write(self, event: Object) -> tuple[Object | None, bool]:
        """One attempt: (what the server stored, whether to retry)."""
        meta = event.get("metadata") or {}
        name = str(meta.get("name") or "")
        namespace = str(meta.get("namespace") or "default")
        written: Object | None = None
        try:
            if event.get("series") is not None:
                try:
                    written = await self.client.patch(
                        EVENTS_V1,
                        name,
                        {"series": event["series"]},
                        namespace,
                        patch_type="strategic",
                    )
                except APIError as err:
                    if err.code != 404:  # the Event expired: create it afresh
                        raise
            if written is None:
                # The answer is not decoded (a scheduler writes an Event per pod): what was
                # sent is what the series are built from; their patches need only its name.
                fresh = {k: v for k, v in meta.items() if k != "resourceVersion"}
                written = {**event, "metadata": fresh}
                await self.client.request(
                    "POST",
                    EVENTS_V1.path(namespace),
                    body=jsonc.dumps(written),
                    content_type=JSON,
                    seconds=None,  # client-go sets no deadline
                )
        except APIError as err:
            if err.code >= 500 or err.code == 429:
                log.error("unable to write event %s: %s (may retry after sleeping)", name, err)
                return None, True
            level = logging.DEBUG if err.reason == "AlreadyExists" else logging.ERROR
            log.log(level, "server rejected event %s: %s (will not retry!)", name, err)
            return None, False
        except (OSError, TimeoutError, aiohttp.ClientError) as err:
            log.error("unable to write event %s: %s (may retry after sleeping)", name, err)
            return None, True
        return written, False

    # -- series upkeep ---------------------------------------------------------------------

    async def _every(self, period: float, work: Callable[[], None]) -> None:
        while True:
            await self.clock.sleep(period)
            try:
                work()
            except Exception:  # upkeep never stops the broadcaster
                log.exception("event series upkeep failed")

    def _rewrite(self, event: Object) -> None:
        """Start writing `event` (a task of its own, as upstream's goroutine per event)."""
        task = asyncio.get_running_loop().create_task(self._attempt(event))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _refresh_series(self) -> None:
        for event, _ in list(self._cache.values()):
            if event.get("series") is not None:
                self._rewrite(event)

    def _finish_series(self) -> None:
        cutoff = self.clock.now() - FINISH_AFTER
        for key, (event, seen) in list(self._cache.items()):
            if seen >= cutoff:
                continue
            del self._cache[key]
            if event.get("series") is not None:
                self._rewrite(event)  # the series' final count


class Recorder:
    """Records Events for one reporting controller through its broadcaster."""

    def __init__(
        self, broadcaster: EventBroadcaster, reporting_controller: str, host: str | None = None
    ) -> None:
        self.broadcaster = broadcaster
        self.reporting_controller = reporting_controller
        self.host = socket.gethostname() if host is None else host
        self.reporting_instance = f"{reporting_controller}-{self.host}"

    def with_component(self, component: str, host: str | None = None) -> Recorder:
        """A recorder reporting as `component` (a scheduler profile's name) on this broadcaster."""
        return Recorder(self.broadcaster, component, self.host if host is None else host)

    def eventf(
        self,
        regarding: Object,
        related: Object | None,
        event_type: str,
        reason: str,
        action: str,
        note: str,
        *args: Any,
    ) -> None:
        """client-go's Eventf: `note % args` about `regarding`; never blocks or raises."""
        ref = reference_of(regarding)
        ns = self.broadcaster.nanos()
        event: Object = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": f"{ref.get('name', '')}.{ns:x}",
                "namespace": ref.get("namespace") or "default",
            },
            "eventTime": micro_time(ns),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": action,
            "reason": reason,
            "regarding": ref,
            "note": note % args if args else note,
            "type": event_type,
        }
        if related is not None:
            event["related"] = reference_of(related)
        self.broadcaster.record(event)
