"""Writing core/v1 Events about objects, as client-go's record.EventRecorder does.

Controllers call `recorder.event(obj, "Normal", "ScalingReplicaSet", "Scaled up ...")` from
their sync loops; that must never block or fail the sync, so `event` only builds the Event and
puts it on a bounded queue (1000, client-go's maxQueuedEvents; when full the event is dropped
with a log line). One background task (`start()` / `stop()`) writes the queue to the API
server through an `EventCorrelator`, which keeps a busy controller from flooding the server:

- repeats: an event identical to one already written (same source, involved object, type,
  reason and message) becomes a strategic-merge PATCH of the existing Event's `count`,
  `lastTimestamp` (and message) instead of a new Event: `kubectl describe` shows "x5 over 2m";
- similar events: the 10th distinct message for the same (source, object, type, reason)
  within 10 minutes is folded into one Event "(combined from similar events): <message>";
- spam: each (source, object) gets a token bucket of 25 events refilled one per 5 minutes;
  events beyond it are skipped.

Event names are `<object name>.<unix nanoseconds in hex>` and the namespace is the object's
(`default` for cluster-scoped objects), as upstream. A write that fails for a reason worth
retrying (no connection, a 5xx) is retried up to 12 times 10 s apart (the first wait
randomised); a rejected one (4xx) is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.clock import Clock, RealClock
from kube.client.rest import JSON, RESTClient
from kube.codec import jsonc

log = logging.getLogger("kube.events")

EVENTS = resource("events")

MAX_QUEUED_EVENTS = 1000
MAX_TRIES_PER_EVENT = 12
RETRY_SLEEP = 10.0
CACHE_SIZE = 4096
# EventAggregator: this many distinct messages within MAX_INTERVAL are combined into one.
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_MAX_INTERVAL = 600.0
AGGREGATE_PREFIX = "(combined from similar events): "
# EventSourceObjectSpamFilter: a burst of 25, then one event per 5 minutes per object.
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0

K = TypeVar("K")
V = TypeVar("V")


class _LRU(Generic[K, V]):
    """client-go's lru.Cache: at most `size` entries, the least recently used goes first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def add(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def reference_of(obj: Object) -> dict[str, Any]:
    """The ObjectReference of `obj` (ref.GetReference): what `involvedObject` holds."""
    meta = obj.get("metadata") or {}
    ref = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    return {k: v for k, v in ref.items() if v}


def _time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UniqueNanos:
    """Wall-clock nanoseconds, strictly increasing: they name Events, so two never collide."""

    def __init__(self, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.wall_ns = wall_ns
        self._last = 0

    def __call__(self) -> int:
        self._last = max(self.wall_ns(), self._last + 1)
        return self._last


def _join(*parts: Any) -> str:
    return "".join(str(part or "") for part in parts)


def event_key(event: Object) -> str:
    """getEventKey: identical events (message included) share this key."""
    source = event.get("source") or {}
    ref = event.get("involvedObject") or {}
    return _join(
        source.get("component"),
        source.get("host"),
        ref.get("kind"),
        ref.get("namespace"),
        ref.get("name"),
        ref.get("fieldPath"),
        ref.get("uid"),
        ref.get("apiVersion"),
        event.get("type"),
        event.get("reason"),
        event.get("message"),
    )


def _aggregate_key(event: Object) -> str:
    """EventAggregatorByReasonFunc: similar events differ only in their message."""
    source = event.get("source") or {}
    ref = event.get("involvedObject") or {}
    return _join(
        source.get("component"),
        source.get("host"),
        ref.get("kind"),
        ref.get("namespace"),
        ref.get("name"),
        ref.get("uid"),
        ref.get("apiVersion"),
        event.get("type"),
        event.get("reason"),
        event.get("reportingComponent"),
        event.get("reportingInstance"),
    )


def _spam_key(event: Object) -> str:
    source = event.get("source") or {}
    ref = event.get("involvedObject") or {}
    return _join(
        source.get("component"),
        source.get("host"),
        ref.get("kind"),
        ref.get("namespace"),
        ref.get("name"),
        ref.get("uid"),
        ref.get("apiVersion"),
        event.get("type"),
    )


@dataclass
class _Observation:
    count: int
    first_timestamp: str
    name: str
    resource_version: str


@dataclass
class _Aggregate:
    messages: set[str]
    last: float


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Correlated:
    """What to write: the Event, and the patch body when it updates an existing one."""

    event: Object
    patch: dict[str, Any] | None


class EventCorrelator:
    """client-go's EventCorrelator: aggregate, then dedupe into patches, then spam-filter."""

    def __init__(self, clock: Clock, nanos: UniqueNanos | None = None) -> None:
        self.clock = clock
        self.nanos = nanos or UniqueNanos()
        self._aggregates: _LRU[str, _Aggregate] = _LRU()
        self._observed: _LRU[str, _Observation] = _LRU()
        self._buckets: _LRU[str, _Bucket] = _LRU()

    def correlate(self, event: Object) -> Correlated | None:
        """The write for `event`, or None if the spam filter drops it."""
        event, key = self._aggregate(event)
        correlated = self._observe(event, key)
        if not self._allow(correlated.event):
            return None
        return correlated

    def _aggregate(self, event: Object) -> tuple[Object, str]:
        now = self.clock.now()
        key = _aggregate_key(event)
        record = self._aggregates.get(key)
        if record is None or now - record.last > AGGREGATE_MAX_INTERVAL:
            record = _Aggregate(set(), now)
        record.messages.add(str(event.get("message") or ""))
        record.last = now
        self._aggregates.add(key, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return event, event_key(event)
        record.messages.pop()
        ns = self.nanos()
        stamp = _time(ns)
        ref = event.get("involvedObject") or {}
        combined: Object = {
            "metadata": {
                "name": f"{ref.get('name', '')}.{ns:x}",
                "namespace": (event.get("metadata") or {}).get("namespace"),
            },
            "involvedObject": ref,
            "reason": event.get("reason"),
            "message": AGGREGATE_PREFIX + str(event.get("message") or ""),
            "type": event.get("type"),
            "source": event.get("source"),
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        return combined, key

    def _observe(self, event: Object, key: str) -> Correlated:
        last = self._observed.get(key)
        patch: dict[str, Any] | None = None
        if last is not None and last.count > 0:
            meta = dict(event.get("metadata") or {})
            meta["name"] = last.name
            if last.resource_version:
                meta["resourceVersion"] = last.resource_version
            event = {
                **event,
                "metadata": meta,
                "firstTimestamp": last.first_timestamp,
                "count": last.count + 1,
            }
            patch = {
                "count": event["count"],
                "lastTimestamp": event.get("lastTimestamp"),
                "message": event.get("message"),
            }
        self._remember(key, event)
        return Correlated(event, patch)

    def update_state(self, written: Object) -> None:
        """Remember what the server returned (its name and resourceVersion) for the next patch."""
        self._remember(event_key(written), written)

    def _remember(self, key: str, event: Object) -> None:
        meta = event.get("metadata") or {}
        self._observed.add(
            key,
            _Observation(
                count=int(event.get("count") or 1),
                first_timestamp=str(event.get("firstTimestamp") or ""),
                name=str(meta.get("name") or ""),
                resource_version=str(meta.get("resourceVersion") or ""),
            ),
        )

    def _allow(self, event: Object) -> bool:
        now = self.clock.now()
        key = _spam_key(event)
        bucket = self._buckets.get(key) or _Bucket(float(SPAM_BURST), now)
        bucket.tokens = min(float(SPAM_BURST), bucket.tokens + (now - bucket.at) * SPAM_QPS)
        bucket.at = now
        self._buckets.add(key, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


class _Writer:
    """The queue and the one task writing it, shared by the recorders of one process."""

    def __init__(self, client: RESTClient, clock: Clock, queue_size: int, nanos: UniqueNanos):
        self.client = client
        self.clock = clock
        self.queue: asyncio.Queue[Object] = asyncio.Queue(maxsize=queue_size)
        self.nanos = nanos
        self.correlator = EventCorrelator(clock, nanos)
        self.task: asyncio.Task[None] | None = None
        self.dropped = 0

    async def run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self._record_to_sink(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad event never stops the writer
                log.exception("unable to write event %s", (event.get("metadata") or {}).get("name"))
            finally:
                self.queue.task_done()

    async def _record_to_sink(self, event: Object) -> None:
        result = self.correlator.correlate(event)
        if result is None:
            log.debug("event %s skipped by the spam filter", event.get("reason"))
            return
        for tries in range(1, MAX_TRIES_PER_EVENT + 1):
            if await self._write(result):
                return
            if tries == MAX_TRIES_PER_EVENT:
                break
            # The first wait is random so that clients do not retry in step after an outage.
            delay = RETRY_SLEEP * random.random() if tries == 1 else RETRY_SLEEP
            await self.clock.sleep(delay)
        log.error("unable to write event %s (retry limit exceeded!)", result.event.get("reason"))

    async def _write(self, result: Correlated) -> bool:
        """One attempt; True when done (written, or rejected for good), False to retry."""
        event = result.event
        meta = event.get("metadata") or {}
        name = str(meta.get("name") or "")
        namespace = str(meta.get("namespace") or "default")
        written: Object | None = None
        try:
            if result.patch is not None:
                try:
                    written = await self.client.patch(
                        EVENTS, name, result.patch, namespace, patch_type="strategic"
                    )
                except APIError as err:
                    if err.code != 404:  # the Event is gone (expired): create it afresh
                        raise
            if written is None:
                # The answer is not decoded (a kubelet writes three Events a pod it starts):
                # what was sent is what the next patch needs, its name, count and first time.
                fresh_meta = {k: v for k, v in meta.items() if k != "resourceVersion"}
                written = {"apiVersion": "v1", "kind": "Event", **event, "metadata": fresh_meta}
                await self.client.request(
                    "POST", EVENTS.path(namespace), body=jsonc.dumps(written), content_type=JSON
                )
        except APIError as err:
            if err.code >= 500 or err.code == 429:
                log.error("unable to write event %s: %s (may retry after sleeping)", name, err)
                return False
            level = logging.DEBUG if err.reason == "AlreadyExists" else logging.ERROR
            log.log(level, "server rejected event %s: %s (will not retry!)", name, err)
            return True
        except (OSError, TimeoutError, aiohttp.ClientError) as err:
            log.error("unable to write event %s: %s (may retry after sleeping)", name, err)
            return False
        self.correlator.update_state(written)
        return True


class EventRecorder:
    """Records Events for one component; `start()` the writer, `stop()` to flush at exit."""

    def __init__(
        self,
        client: RESTClient,
        component: str = "kube-controller-manager",
        host: str = "",
        *,
        clock: Clock | None = None,
        queue_size: int = MAX_QUEUED_EVENTS,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.component = component
        self.host = host
        self._writer = _Writer(client, clock or RealClock(), queue_size, UniqueNanos(wall_ns))

    @property
    def dropped(self) -> int:
        """How many events a full queue has dropped."""
        return self._writer.dropped

    def with_component(self, component: str, host: str | None = None) -> EventRecorder:
        """A recorder whose events say `source.component: component`, sharing this writer.

        Upstream each controller records as its own component (`deployment-controller`,
        `replicaset-controller`, ...), which is what `kubectl describe` shows under From.
        """
        other = EventRecorder.__new__(EventRecorder)
        other.component = component
        other.host = self.host if host is None else host
        other._writer = self._writer
        return other

    # -- recording ---------------------------------------------------------------------------

    def event(
        self, obj: Object, event_type: str, reason: str, message: str, *, field_path: str = ""
    ) -> None:
        """Queue an Event about `obj` (a part of it when `field_path` says which, as the
        kubelet's `spec.containers{name}`); never blocks, never raises for a full queue."""
        ref = reference_of(obj)
        if field_path:
            ref["fieldPath"] = field_path
        stamp_ns = self._writer.nanos()
        stamp = _time(stamp_ns)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        event: Object = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{ref.get('name', '')}.{stamp_ns:x}",
                "namespace": ref.get("namespace") or "default",
            },
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": event_type,
            "source": source,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        try:
            self._writer.queue.put_nowait(event)
        except asyncio.QueueFull:
            self._writer.dropped += 1
            log.error(
                "event queue is full (%d), dropping event %s %s %s: %s",
                self._writer.queue.maxsize,
                event_type,
                ref.get("name", ""),
                reason,
                message,
            )

    def eventf(self, obj: Object, event_type: str, reason: str, fmt: str, *args: Any) -> None:
        """`event` with a printf-style message, as client-go's Eventf."""
        self.event(obj, event_type, reason, fmt % args if args else fmt)

    # -- the writer --------------------------------------------------------------------------

    def start(self) -> None:
        """Start writing queued events (idempotent; needs a running loop)."""
        writer = self._writer
        if writer.task is None or writer.task.done():
            writer.task = asyncio.create_task(writer.run(), name="event-recorder")

    async def stop(self, grace: float = 5.0) -> None:
        """Write what is queued (for up to `grace` seconds), then stop the writer."""
        writer = self._writer
        if writer.task is None:
            return
        if not writer.task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await writer.queue.join()
        task, writer.task = writer.task, None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if pending := writer.queue.qsize():
            log.warning("stopping with %d events not written", pending)

    async def flush(self) -> None:
        """Wait until every event queued so far has been written (or given up on)."""
        await self._writer.queue.join()
