"""The watch cache: upstream's cacher (k8s.io/apiserver/pkg/storage/cacher) in small.

Without it every watch request opens its own storage watch and every LIST reads and decodes
every value from storage. With it, storage is read once per resource and kept in memory:

- `Reflector`: ONE storage watch over `/registry/` (every resource, every namespace), started
  on first use, feeding each resource's `WatchCache`. It watches the whole registry rather than
  one watch per resource so that its revision is the store's revision: a resource nobody
  wrote to for a while is still known to be current to the latest write, which is what
  upstream gets from etcd's progress notifications. That is what makes a consistent LIST
  from the cache possible (KEP-2340: read storage's current revision, wait until the cache has
  seen it, serve) and what bookmarks report. Our backends have no progress notify.
- `WatchCache` (one per stored resource, filled on first use by a LIST at the reflector's
  revision): key -> `Entry` (the object at one revision, with its encodings made lazily), and
  a bounded window of recent changes (as upstream sizes its ring: the changes of the last 75 s,
  at least 100 and at most 100 * 1024). A watch from revision R replays the window after R,
  then follows live changes; R older than the window is 410 Gone "too old resource version:
  R (oldest)" as upstream says it.
- Fan-out: each watcher has its own bounded queue; one that falls `queue_limit` events behind
  is terminated (its stream ends and the client re-watches or re-lists, as upstream closes a
  blocked cacheWatcher) instead of slowing everyone. `dispatch` is the one function that
  decides which watcher gets what (changes in, per-watcher deliveries out); a native fan-out
  kernel can replace it without touching the rest.
- LIST: served from the cache for resourceVersion "0" (any), "" (most recent, after the
  consistency wait, storage on timeout), and explicit versions the cache has reached; paging
  serves `continue` tokens from a kept snapshot of the first page's revision (storage at that
  revision when the snapshot is gone). Responses are assembled from each item's cached JSON
  or protobuf bytes (`encode_list`), byte-identical to encoding the list object.

When the storage watch breaks it is re-established from the last revision seen, so no change
is skipped; if that revision was compacted, every cache is dropped (refilled on next use) and
every watcher terminated, because they would miss changes.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import orjson

from kube import native
from kube.api import errors
from kube.api.meta import Object, api_version, list_object
from kube.apiserver.selection import Selection
from kube.apiserver.sharedfields import SharedFields
from kube.apiserver.store import (
    Change,
    ChangeStream,
    ObjectStore,
    Page,
    ResourceInfo,
    decode_continue,
    encode_continue,
)
from kube.codec import jsonc, protobuf
from kube.storage.backend import (
    Backend,
    CompactedError,
    EventType,
    KeyValue,
    StorageError,
    WatchEvent,
    prefix_end,
)

log = logging.getLogger("kube.apiserver.watchcache")

REGISTRY_PREFIX: Final = "/registry/"
# The window of changes a watch can resume from, sized as upstream's watch cache sizes its
# ring: changes younger than EVENT_FRESH_SECONDS are kept (at least MIN_CHANGES of them),
# never more than DEFAULT_CAPACITY (defaultLowerBoundCapacity, defaultUpperBoundCapacity and
# eventFreshDuration in cacher/watch_cache.go).
DEFAULT_CAPACITY: Final = 100 * 1024
MIN_CHANGES: Final = 100
EVENT_FRESH_SECONDS: Final = 75.0
WATCHER_QUEUE_LIMIT: Final = 4096  # live changes a watcher may lag before it is terminated
FRESH_WAIT_SECONDS: Final = 3.0  # upstream's blockTimeout for waitUntilFreshAndBlock
SNAPSHOTS_KEPT: Final = 16  # list snapshots kept for continue tokens
FILL_PAGE: Final = 1000
FRAMES_KEPT: Final = 2048  # encoded watch frames shared by a cache's watchers

Select = Callable[[list[Object]], list[Object]]  # a request's selector over a batch of objects
Decode = Callable[[KeyValue], Object]  # a stored value as the resource's object


@dataclass(slots=True, eq=False)
class Entry:
    """One object at one revision; `json`/`proto` are its list-item encodings, made lazily.

    The object is shared by every reader and must not be mutated (copy it first).
    """

    key: str
    namespace: str
    object: Object
    revision: int
    json: bytes | None = None
    proto: bytes | None = None


@dataclass(slots=True, eq=False)
class Event:
    """One change in a cache's window, with what dispatch filters on."""

    namespace: str
    change: Change
    at: float = 0.0  # when the cache saw it (monotonic), for the window's freshness


class Watcher(Protocol):
    """What `dispatch` needs to know about a watcher."""

    namespace: str | None
    selection: Selection | None
    since: int


def visible_type(change: Change, selection: Selection | None) -> str | None:
    """The event type a watcher of `selection` sees for `change`, or None for nothing.

    Objects that move into the selection are ADDED, those that move out are DELETED (with their
    new state), as upstream's cacheWatcher.convertToWatchEvent does.
    """
    if selection is None or selection.everything:
        return change.type
    if change.type == "DELETED":
        if (change.previous is not None and selection.matches(change.previous)) or (
            selection.matches(change.object)
        ):
            return "DELETED"
        return None
    now_in = selection.matches(change.object)
    was_in = change.previous is not None and selection.matches(change.previous)
    if now_in:
        return change.type if was_in or change.type == "ADDED" else "ADDED"
    return "DELETED" if was_in else None


def dispatch(events: Sequence[Event], watchers: Sequence[Watcher]) -> list[list[Change]]:
    """For each watcher (in order), the changes it gets from `events` (in order).

    The fan-out kernel: pure, no I/O, no state; a native version replaces this function.
    """
    out: list[list[Change]] = []
    for w in watchers:
        got: list[Change] = []
        for event in events:
            change = event.change
            if change.revision <= w.since:
                continue
            if w.namespace is not None and event.namespace != w.namespace:
                continue
            kind = visible_type(change, w.selection)
            if kind is None:
                continue
            if kind != change.type:
                change = Change(kind, change.object, change.previous, change.revision)
            got.append(change)
        out.append(got)
    return out


class Reflector:
    """The one storage watch over the registry, and the revision every cache is current to."""

    def __init__(self, backend: Backend, prefix: str = REGISTRY_PREFIX) -> None:
        self.backend = backend
        self.prefix = prefix
        self.revision = 0  # every change up to here has been handed to the caches
        self._buckets: dict[str, list[WatchCache]] = {}
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._closed = False

    def register(self, cache: WatchCache) -> None:
        self._buckets.setdefault(self._bucket(cache.prefix), []).append(cache)

    def _bucket(self, key: str) -> str:
        rest = key[len(self.prefix) :]
        return rest.split("/", 1)[0]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Open the storage watch (once) at storage's current revision."""
        if self.running:
            return
        if self._closed:
            raise StorageError("the watch cache is closed")
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._begin())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        except BaseException:
            if starting.done() and self._starting is starting:
                self._starting = None
            raise

    async def _begin(self) -> None:
        current = await self.backend.current_revision()
        if self._task is not None:
            # The watch stopped (storage closed, or a failure): what the caches hold may have
            # missed changes since, so they start over from here.
            self._reset("the storage watch restarted")
        self.revision = max(self.revision, current)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._reset("the API server is shutting down")

    async def _run(self) -> None:
        delay = 0.1
        while not self._closed:
            events = self.backend.watch(self.prefix, since=self.revision)
            try:
                async for event in events:
                    self._deliver(event)
                    delay = 0.1
                log.info("storage watch on %s ended (storage closed)", self.prefix)
                self._reset("storage closed")
                return
            except CompactedError as err:
                log.warning(
                    "storage watch on %s cannot resume at %d (compacted to %d): refilling caches",
                    self.prefix,
                    self.revision,
                    err.compacted,
                )
                try:
                    current = await self.backend.current_revision()
                except StorageError:
                    current = err.compacted
                # Skip what was compacted away: every cache is dropped and refilled from here.
                self.revision = max(self.revision, current)
                self._reset("storage compacted past the cache")
                self._wake()
            except StorageError as err:
                log.warning(
                    "storage watch on %s broke (%s); resuming at %d",
                    self.prefix,
                    err,
                    self.revision,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                # Not a storage failure (a value that does not decode, a bug): the caches may
                # be wrong from here, so they start over, as upstream's reflector relists.
                log.exception("storage watch on %s failed; refilling caches", self.prefix)
                self._reset("the storage watch failed")
                with contextlib.suppress(StorageError):
                    self.revision = max(self.revision, await self.backend.current_revision())
                self._wake()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()

    def _deliver(self, event: WatchEvent) -> None:
        key = event.kv.key
        for cache in self._buckets.get(self._bucket(key), ()):
            if key.startswith(cache.prefix):
                cache.feed(event)
        self.revision = max(self.revision, event.revision)
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        if self._waiters:
            keep = []
            for target, future in self._waiters:
                if target <= self.revision:
                    if not future.done():
                        future.set_result(None)
                else:
                    keep.append((target, future))
            self._waiters = keep

    def _reset(self, why: str) -> None:
        for bucket in self._buckets.values():
            for cache in bucket:
                cache.drop(why)

    async def wait_for(self, revision: int, seconds: float) -> bool:
        """Whether the caches reach `revision` within `seconds`."""
        if self.revision >= revision:
            return True
        if not self.running:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (revision, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, seconds)
        except TimeoutError:
            return False
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
        return True


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A resource's objects at one revision, in key order (what a LIST pages through)."""

    revision: int
    keys: list[str]
    entries: list[Entry]


class WatchCache:
    """The objects of one resource and its recent changes; see the module docstring."""

    def __init__(
        self,
        reflector: Reflector,
        resource: ResourceInfo,
        decode: Decode,
        *,
        capacity: int = DEFAULT_CAPACITY,
        fresh_for: float = EVENT_FRESH_SECONDS,
        queue_limit: int = WATCHER_QUEUE_LIMIT,
        fresh_wait: float = FRESH_WAIT_SECONDS,
    ) -> None:
        self.reflector = reflector
        self.resource = resource
        # Cached objects share their managedFields documents (a large part of each).
        self.decode = SharedFields().decoding(decode)
        self.prefix = resource.prefix(None)
        self.capacity = capacity
        self.fresh_for = fresh_for
        self.queue_limit = queue_limit
        self.fresh_wait = fresh_wait
        self.objects: dict[str, Entry] = {}
        self.window: deque[Event] = deque()
        self.floor = 0  # every change after this revision is in the window
        self.evicted = False  # whether the window ever dropped a change
        self.watchers: list[CacheWatcher] = []
        self._state = "cold"  # cold -> filling -> ready (-> cold when dropped)
        self._pending: list[WatchEvent] = []
        self._filling: asyncio.Future[None] | None = None
        self._keys: list[str] | None = None
        self._snapshot: Snapshot | None = None
        self._kept: OrderedDict[int, Snapshot] = OrderedDict()
        self._proto_head: bytes | None = None
        self.frames = FrameMemo()
        reflector.register(self)

    # -- filling and feeding ---------------------------------------------------------------

    @property
    def revision(self) -> int:
        """Every change of this resource up to here is in the cache."""
        return max(self.reflector.revision, self.floor)

    @property
    def is_ready(self) -> bool:
        return self._state == "ready"

    async def ready(self) -> bool:
        """Fill the cache if it is cold; False when storage cannot be read (use storage)."""
        if self._state == "ready" and self.reflector.running:
            return True
        filling = self._filling
        if filling is None or filling.done():
            filling = self._filling = asyncio.ensure_future(self._fill())
        try:
            await asyncio.shield(filling)
        except Exception as err:  # storage answers the request instead, with its own error
            log.info("watch cache for %s not ready: %s", self.prefix, err)
            return False
        return self._state == "ready"

    async def _fill(self) -> None:
        await self.reflector.start()
        revision = self.reflector.revision
        self._state, self._pending = "filling", []
        try:
            try:
                kvs = await self._read(revision)
            except CompactedError:
                # Storage moved past the reflector (it is recovering from a compaction): read
                # the newest state in one go; changes up to it that arrive later are skipped.
                page = await self.reflector.backend.list(self.prefix)
                kvs, revision = page.kvs, page.revision
        except BaseException:
            self._state, self._pending = "cold", []
            raise
        self.objects = {
            kv.key: Entry(kv.key, self._namespace(kv.key), self.decode(kv), kv.mod_revision)
            for kv in kvs
        }
        self.window.clear()
        self.floor, self.evicted = revision, False
        self._changed()
        self._state = "ready"
        pending, self._pending = self._pending, []
        for event in pending:
            self._apply(event)

    async def _read(self, revision: int) -> list[KeyValue]:
        if revision == 0:
            return []  # nothing was ever written
        kvs: list[KeyValue] = []
        last = ""
        while True:
            page = await self.reflector.backend.list(
                self.prefix, revision=revision, limit=FILL_PAGE, start_after=last
            )
            kvs.extend(page.kvs)
            if not page.more or not page.kvs:
                return kvs
            last = page.kvs[-1].key

    def feed(self, event: WatchEvent) -> None:
        """A storage change under this resource's prefix (from the reflector)."""
        if self._state == "ready":
            self._apply(event)
        elif self._state == "filling":
            self._pending.append(event)

    def _namespace(self, key: str) -> str:
        if not self.resource.namespaced:
            return ""
        return key[len(self.prefix) :].split("/", 1)[0]

    def _apply(self, event: WatchEvent) -> None:
        kv = event.kv
        if kv.mod_revision <= self.floor:
            return  # already in what the fill read
        key = kv.key
        old = self.objects.get(key)
        obj = self.decode(kv)
        namespace = self._namespace(key)
        prev_kv = event.prev_kv
        previous: Object | None = None
        if prev_kv is not None:
            if old is not None and old.revision == prev_kv.mod_revision:
                previous = old.object
            else:
                previous = self.decode(prev_kv)
        if event.type is EventType.DELETE:
            kind = "DELETED"
            if self.objects.pop(key, None) is not None:
                self._keys = None
        else:
            kind = "ADDED" if event.type is EventType.CREATE else "MODIFIED"
            self.objects[key] = Entry(key, namespace, obj, kv.mod_revision)
            if old is None:
                self._keys = None
        self._snapshot = None
        change = Event(namespace, Change(kind, obj, previous, kv.mod_revision))
        now = change.at = time.monotonic()
        window = self.window
        window.append(change)
        stale = now - self.fresh_for
        keep = min(self.capacity, MIN_CHANGES)
        while len(window) > self.capacity or (len(window) > keep and window[0].at < stale):
            self.floor = window.popleft().change.revision
            self.evicted = True
        if self.watchers:
            watchers = list(self.watchers)
            for watcher, changes in zip(watchers, dispatch([change], watchers), strict=True):
                if changes:
                    watcher.push(changes)

    def _changed(self) -> None:
        self._keys = None
        self._snapshot = None
        self._kept.clear()

    def drop(self, why: str) -> None:
        """Forget everything (refilled on next use) and end every watch: they would miss changes."""
        if self._state == "cold" and not self.watchers:
            return
        log.info("dropping the watch cache of %s: %s", self.prefix, why)
        self._state, self._pending = "cold", []
        self.objects = {}
        self.window.clear()
        self._changed()
        watchers, self.watchers = self.watchers, []
        for watcher in watchers:
            watcher.terminate()

    # -- LIST --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The objects now, in key order (shared until the next change of this resource)."""
        snap = self._snapshot
        if snap is None:
            if self._keys is None:
                self._keys = sorted(self.objects)
            keys = self._keys
            snap = Snapshot(self.revision, keys, [self.objects[k] for k in keys])
        elif snap.revision != self.revision:
            snap = Snapshot(self.revision, snap.keys, snap.entries)
        self._snapshot = snap
        return snap

    async def fresh(self) -> bool:
        """Whether the cache has caught up with storage's current revision (bounded wait)."""
        try:
            current = await self.reflector.backend.current_revision()
        except StorageError:
            return False
        return await self.reflector.wait_for(current, self.fresh_wait)

    async def list(
        self,
        namespace: str | None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
        select: Select | None = None,
    ) -> Page | None:
        """A page served from the cache, or None when storage must serve it."""
        if resource_version_match:
            return None
        returned = 0
        start_after = ""
        prefix = self.resource.prefix(namespace if self.resource.namespaced else None)
        if continue_token:
            if resource_version not in ("", "0"):
                return None  # storage answers this with its 400
            revision, suffix, returned = decode_continue(continue_token)
            kept = self._kept.get(revision)
            if kept is None or not self.is_ready:
                return None
            snap = kept
            start_after = prefix + suffix
        else:
            if not await self.ready():
                return None
            if resource_version == "":
                if not await self.fresh():
                    return None
            elif resource_version != "0":
                wanted = ObjectStore._parse_rv(resource_version)
                if wanted > self.revision:
                    return None
            if not self.is_ready:
                return None
            snap = self.snapshot()
        return self._page(snap, prefix, limit, start_after, returned, select)

    def _page(
        self,
        snap: Snapshot,
        prefix: str,
        limit: int,
        start_after: str,
        returned_before: int,
        select: Select | None,
    ) -> Page:
        keys, entries = snap.keys, snap.entries
        lo = bisect.bisect_left(keys, prefix)
        if start_after:
            lo = max(lo, bisect.bisect_right(keys, start_after))
        end = prefix_end(prefix)
        hi = len(keys) if end is None else bisect.bisect_left(keys, end)
        chosen: builtins.list[Entry]
        if select is None:
            stop = hi if not limit else min(hi, lo + limit)
            chosen = entries[lo:stop]
            more = stop < hi
        else:
            chosen = []
            step = max(limit, 256) if limit else max(hi - lo, 1)
            i = lo
            while i < hi and (not limit or len(chosen) <= limit):
                part = entries[i : min(hi, i + step)]
                objects = [e.object for e in part]
                picked = select(objects)
                if len(picked) == len(objects):
                    chosen.extend(part)
                else:
                    ids = {id(o) for o in picked}
                    chosen.extend(e for e in part if id(e.object) in ids)
                i += len(part)
            more = bool(limit) and len(chosen) > limit
            stop = i
        token = ""
        remaining: int | None = None
        if limit and more:
            chosen = chosen[:limit]
            token = encode_continue(
                snap.revision, chosen[-1].key[len(prefix) :], returned_before + len(chosen)
            )
            if select is None:
                remaining = hi - stop
            self._kept[snap.revision] = snap
            self._kept.move_to_end(snap.revision)
            while len(self._kept) > SNAPSHOTS_KEPT:
                self._kept.popitem(last=False)
        return Page([e.object for e in chosen], snap.revision, token, remaining, chosen)

    # -- WATCH -------------------------------------------------------------------------------

    def watch(
        self,
        namespace: str | None,
        since: int,
        selection: Selection | None,
        fallback: Callable[[], ChangeStream],
    ) -> CachedWatch:
        return CachedWatch(self, namespace, since, selection, fallback)

    def subscribe(
        self, namespace: str | None, since: int, selection: Selection | None
    ) -> CacheWatcher:
        """A watcher of changes after `since`: the window's first, then live ones.

        The caller checked `since >= self.floor`. Synchronous, so no change can slip in
        between the replay and the registration.
        """
        watcher = CacheWatcher(
            self, namespace if self.resource.namespaced else None, since, selection
        )
        if since < self.revision and self.window:
            revisions = _Revisions(self.window)
            first = bisect.bisect_right(revisions, since)
            replay = [self.window[i] for i in range(first, len(self.window))]
            (changes,) = dispatch(replay, [watcher])
            watcher.queue.extend(changes)
            watcher.allowance = len(changes)  # the replay does not count against the limit
        self.watchers.append(watcher)
        return watcher

    def unsubscribe(self, watcher: CacheWatcher) -> None:
        if watcher in self.watchers:
            self.watchers.remove(watcher)

    # -- encoding ----------------------------------------------------------------------------

    def _proto_empty_item_list(self) -> bytes:
        """The raw (unenveloped) message of an item list with empty metadata and no items."""
        if self._proto_head is None:
            r = self.resource
            doc = list_object(api_version(r.group, r.version), f"{r.kind}List", [], "")
            doc["metadata"] = {}
            self._proto_head = native.decode_envelope(native.encode_object(doc))[2]
        return self._proto_head


class FrameMemo:
    """Encoded watch frames shared by the watchers of one cache (upstream's cachingObject).

    A frame is a function of the output format, the event type and the object at one
    revision, so it is keyed by those; the newest `size` frames are kept.
    """

    def __init__(self, size: int = FRAMES_KEPT) -> None:
        self.size = size
        self._frames: OrderedDict[tuple[str, str, str, str, str], bytes] = OrderedDict()

    def get(self, media: str, kind: str, obj: Object, make: Callable[[], bytes]) -> bytes:
        meta = obj.get("metadata") or {}
        revision = str(meta.get("resourceVersion") or "")
        if not revision:
            return make()
        key = (media, kind, revision, str(meta.get("namespace") or ""), str(meta.get("name")))
        data = self._frames.get(key)
        if data is None:
            data = self._frames[key] = make()
            if len(self._frames) > self.size:
                self._frames.popitem(last=False)
        return data


class _Revisions(Sequence[int]):
    """The window's revisions as a sequence, for bisect (no copy)."""

    def __init__(self, window: deque[Event]) -> None:
        self.window = window

    def __len__(self) -> int:
        return len(self.window)

    def __getitem__(self, index: int) -> int:  # type: ignore[override]
        return self.window[index].change.revision


class CacheWatcher:
    """One watch request's view of a cache: a bounded queue of the changes it gets."""

    def __init__(
        self, cache: WatchCache, namespace: str | None, since: int, selection: Selection | None
    ) -> None:
        self.cache = cache
        self.namespace = namespace
        self.selection = selection
        self.since = since
        self.queue: deque[Change] = deque()
        self.allowance = 0  # queued changes of the replay, beyond the limit
        self.terminated = False
        self._waiter: asyncio.Future[None] | None = None

    def push(self, changes: list[Change]) -> None:
        if self.terminated:
            return
        if len(self.queue) - self.allowance + len(changes) > self.cache.queue_limit:
            log.info(
                "terminating a watch of %s that is %d changes behind",
                self.cache.prefix,
                len(self.queue),
            )
            self.cache.unsubscribe(self)
            self.terminate()
            return
        self.queue.extend(changes)
        self._wake()

    def terminate(self) -> None:
        """End the stream now: the client re-watches from what it has seen, or re-lists."""
        self.terminated = True
        self.queue.clear()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self) -> Change:
        while True:
            if self.queue:
                change = self.queue.popleft()
                if self.allowance:
                    self.allowance -= 1
                self.since = max(self.since, change.revision)
                return change
            if self.terminated:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def poll(self) -> Change | None:
        """The next queued change without waiting, or None if there is none yet."""
        if not self.queue:
            return None
        change = self.queue.popleft()
        if self.allowance:
            self.allowance -= 1
        self.since = max(self.since, change.revision)
        return change

    def progress(self) -> int:
        """The revision this watcher has seen everything up to (for bookmarks)."""
        if self.queue or self.terminated:
            return self.since
        return max(self.since, self.cache.revision)

    def close(self) -> None:
        self.cache.unsubscribe(self)
        self.terminated = True
        self.queue.clear()
        self._wake()


class CachedWatch:
    """`ObjectStore.watch` served by a cache: subscribes on first read, else uses storage.

    Resuming from a revision the window no longer covers is 410 Gone once the window has
    dropped changes; before that (the cache was filled after that revision) storage serves it.
    """

    def __init__(
        self,
        cache: WatchCache,
        namespace: str | None,
        since: int,
        selection: Selection | None,
        fallback: Callable[[], ChangeStream],
    ) -> None:
        self.cache = cache
        self.namespace = namespace
        self.since = since
        self.selection = selection
        self.fallback = fallback
        self.watcher: CacheWatcher | None = None
        self.storage: ChangeStream | None = None
        self.closed = False

    def __aiter__(self) -> CachedWatch:
        return self

    async def __anext__(self) -> Change:
        if self.closed:
            raise StopAsyncIteration
        if self.watcher is None and self.storage is None:
            await self._start()
        if self.storage is not None:
            return await self.storage.__anext__()
        assert self.watcher is not None
        return await self.watcher.next()

    async def _start(self) -> None:
        cache = self.cache
        if not await cache.ready():
            self.storage = self.fallback()
            return
        since = self.since
        if since == 0:
            try:
                since = await cache.reflector.backend.current_revision()
            except StorageError:
                since = cache.revision
        if not cache.is_ready:
            self.storage = self.fallback()
            return
        if since < cache.floor:
            if cache.evicted:
                raise errors.gone(f"too old resource version: {since} ({cache.floor})")
            self.storage = self.fallback()
            return
        self.watcher = cache.subscribe(self.namespace, since, self.selection)

    def poll(self) -> Change | None:
        """A change already queued for this watch, without waiting (the streaming fast path)."""
        if self.closed or self.watcher is None:
            return None
        return self.watcher.poll()

    def progress(self) -> int | None:
        return self.watcher.progress() if self.watcher is not None else None

    async def aclose(self) -> None:
        self.closed = True
        if self.watcher is not None:
            self.watcher.close()
        if self.storage is not None:
            await self.storage.aclose()


# -- list responses from cached item bytes -----------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _item_view(obj: Object) -> Object:
    """An item as a list carries it: without apiVersion and kind (as the list handler pops)."""
    return {k: v for k, v in obj.items() if k != "apiVersion" and k != "kind"}


_ENVELOPE_TAIL: Final = b"\x1a\x00\x22\x00"  # empty contentEncoding and contentType


def encode_list(cache: WatchCache, media: str, page: Page) -> bytes | None:
    """The `<Kind>List` body of `page` in JSON or protobuf, from each item's cached bytes.

    Byte-identical to encoding the list object (`negotiation.encode`); None when this cannot
    be built here (an item that does not encode: the caller's normal path reports it).
    """
    entries = page.entries
    if entries is None:
        return None
    r = cache.resource
    version = api_version(r.group, r.version)
    header = list_object(
        version,
        f"{r.kind}List",
        [],
        str(page.resource_version),
        **{"continue": page.continue_token, "remainingItemCount": page.remaining},
    )
    if media == "application/json":
        head = jsonc.dumps(header)
        if not head.endswith(b"[]}"):
            return None
        items = []
        for e in entries:
            data = e.json
            if data is None:
                data = e.json = orjson.dumps(_item_view(e.object))
            items.append(data)
        return b"".join((head[:-2], b",".join(items), b"]}"))
    if media != protobuf.CONTENT_TYPE:
        return None
    try:
        head = protobuf.encode_object(header)
        empty = cache._proto_empty_item_list()
        chunks = []
        for e in entries:
            chunk = e.proto
            if chunk is None:
                doc = list_object(version, f"{r.kind}List", [_item_view(e.object)], "")
                doc["metadata"] = {}
                raw = native.decode_envelope(native.encode_object(doc))[2]
                if not raw.startswith(empty):
                    return None
                chunk = e.proto = raw[len(empty) :]
            chunks.append(chunk)
    except (ValueError, protobuf.ProtobufError):
        return None
    raw_head = native.decode_envelope(head)[2]
    raw_end = len(head) - len(_ENVELOPE_TAIL)
    raw_start = raw_end - len(raw_head)
    length = _varint(len(raw_head))
    tag_at = raw_start - len(length) - 1
    if not head.endswith(_ENVELOPE_TAIL) or head[tag_at:raw_start] != b"\x12" + length:
        return None
    total = len(raw_head) + sum(len(c) for c in chunks)
    return b"".join((head[: tag_at + 1], _varint(total), raw_head, *chunks, _ENVELOPE_TAIL))
