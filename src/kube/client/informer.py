"""Informers: a local, indexed, always-current copy of a collection, with change notifications.

The pieces are client-go's (tools/cache), with asyncio instead of goroutines:

- `Indexer`: the objects by key (`namespace/name`, or `name` for cluster-scoped kinds) plus
  secondary indices (`namespace` always; custom ones by function), answering "all pods of
  node X" without a scan;
- `Informer`: a `Reflector` feeding an `Indexer`, and the event handlers registered on it. Each
  handler sees `on_add(obj)`, `on_update(old, new)` and `on_delete(obj)` in the order the store
  changed; a delete missed while the watch was down (found on relist) hands the handler a
  `DeletedFinalStateUnknown` holding the last state it knew. Every `resync` seconds each handler
  that asked for it gets `on_update(obj, obj)` for every object, so controllers that lost a
  key to an error get it back;
- `Lister`: read-only queries over an informer's indexer (`get`, `list` by namespace and label
  selector);
- `SharedInformerFactory`: one informer per (resource, namespace) per process, however many
  controllers ask for it, so they all share one watch.

Handlers run on the event loop inside the store update: they must be quick and must not block
(a controller's handler only enqueues a key). An exception in one handler is logged and does not
stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kube.api.meta import Object
from kube.api.registry import Resource
from kube.client.clock import Clock, RealClock
from kube.client.reflector import Reflector
from kube.client.rest import RESTClient

log = logging.getLogger("kube.client.informer")

NAMESPACE_INDEX = "namespace"
IndexFunc = Callable[[Object], Iterable[str]]


def object_key(obj: Object) -> str:
    """client-go's MetaNamespaceKeyFunc: `namespace/name`, or `name` without a namespace."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = str(meta.get("name") or "")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a key; namespace "" for cluster-scoped objects."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def namespace_index(obj: Object) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


NODE_NAME_INDEX = "spec.nodeName"


def node_name_index(pod: Object) -> list[str]:
    """Pods by the node they are bound to (the index kubelets and node controllers share)."""
    node = (pod.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


Transform = Callable[[Object], Object]


def trim_managed_fields(obj: Object) -> Object:
    """Drops `metadata.managedFields` (client-go's TrimManagedFields transform).

    Controllers and the scheduler never read them, and they are often the largest part of an
    object: kube-controller-manager and kube-scheduler strip them before caching. Writing an
    object back without them keeps the server's record (the API server keeps the live
    managedFields when an update omits them). The object is the informer's own copy, fresh
    from decoding, so it is changed in place.
    """
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """An object deleted while the watch was down: its key and the last state this side saw."""

    key: str
    object: Object


class Indexer:
    """Objects by key, with secondary indices kept in step on every change."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Object] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index; adding the same function under the same name again is a no-op (two
        controllers sharing an informer may both ask for it), another function is an error."""
        if self._indexers.get(name) is func:
            return
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name] = func
        index: dict[str, set[str]] = {}
        for key, obj in self._items.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> Object | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[Object]:
        return list(self._items.values())

    def put(self, obj: Object) -> Object | None:
        """Store `obj` under its key; the previous object, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        return old

    def remove(self, key: str) -> Object | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Object) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def by_index(self, name: str, value: str) -> list[Object]:
        """The objects whose index `name` contains `value` (KeyError for an unknown index)."""
        keys = self._indices[name].get(value, ())
        return [self._items[k] for k in sorted(keys)]

    def index_size(self, name: str, value: str) -> int:
        """How many objects `by_index(name, value)` would return, without building them."""
        return len(self._indices[name].get(value, ()))

    def index_keys(self, name: str, value: str) -> list[str]:
        return sorted(self._indices[name].get(value, ()))


@dataclass
class EventHandler:
    """Callbacks for one consumer of an informer; any may be left out."""

    on_add: Callable[[Object], None] | None = None
    on_update: Callable[[Object, Object], None] | None = None
    on_delete: Callable[[Object | DeletedFinalStateUnknown], None] | None = None
    resync: float | None = None
    _next_resync: float = field(default=0.0, repr=False)


def _rv(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    """One resource (in one namespace or all) mirrored into an `Indexer`, with handlers."""

    def __init__(
        self,
        client: RESTClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        indexers: dict[str, IndexFunc] | None = None,
        clock: Clock | None = None,
        use_watch_list: bool = True,
        transform: Transform | None = None,
    ) -> None:
        """`transform`, when given, rewrites each object before it is stored or handed to
        handlers (client-go's SetTransform), e.g. `trim_managed_fields`."""
        self.resource = resource
        self.transform = transform
        self.indexer = Indexer(indexers)
        self.clock = clock or RealClock()
        self.handlers: list[EventHandler] = []
        self.reflector = Reflector(
            client,
            resource,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            clock=self.clock,
            use_watch_list=use_watch_list,
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- consumers -------------------------------------------------------------------------

    def add_event_handler(self, handler: EventHandler) -> EventHandler:
        """Register `handler`; it first gets `on_add` for every object already known."""
        self.handlers.append(handler)
        if handler.resync:
            handler._next_resync = self.clock.now() + handler.resync
        if handler.on_add is not None:
            for obj in self.indexer.values():
                self._call(handler.on_add, obj)
        return handler

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self.indexer.add_indexer(name, func)

    def lister(self) -> Lister:
        return Lister(self.indexer, self.resource.namespaced)

    @property
    def has_synced(self) -> bool:
        return self.reflector.synced.is_set()

    async def wait_for_sync(self, seconds: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.reflector.synced.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self.reflector.run(), name=f"reflector-{self.resource.plural}"),
            asyncio.create_task(self._resync_loop(), name=f"resync-{self.resource.plural}"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _resync_loop(self) -> None:
        while True:
            periods = [h.resync for h in self.handlers if h.resync]
            await self.clock.sleep(min(periods) if periods else 1.0)
            now = self.clock.now()
            for handler in self.handlers:
                if handler.resync and now >= handler._next_resync and self.has_synced:
                    handler._next_resync = now + handler.resync
                    if handler.on_update is not None:
                        for obj in self.indexer.values():
                            self._call(handler.on_update, obj, obj)

    # -- the reflector's store interface ----------------------------------------------------

    def replace(self, objects: list[Object], resource_version: str) -> None:
        """A new snapshot: adds, updates (changed resourceVersion) and the deletes it implies."""
        if self.transform is not None:
            objects = [self.transform(o) for o in objects]
        fresh = {object_key(o): o for o in objects}
        for key in [k for k in self.indexer.keys() if k not in fresh]:  # noqa: SIM118
            gone = self.indexer.remove(key)
            if gone is not None:
                self._dispatch_delete(DeletedFinalStateUnknown(key, gone))
        for obj in objects:
            old = self.indexer.put(obj)
            if old is None:
                self._dispatch_add(obj)
            elif _rv(old) != _rv(obj):
                self._dispatch_update(old, obj)

    def add(self, obj: Object) -> None:
        if self.transform is not None:
            obj = self.transform(obj)
        old = self.indexer.put(obj)
        if old is None:
            self._dispatch_add(obj)
        else:
            self._dispatch_update(old, obj)

    def update(self, obj: Object) -> None:
        self.add(obj)

    def delete(self, obj: Object) -> None:
        if self.transform is not None:
            obj = self.transform(obj)
        self.indexer.remove(object_key(obj))
        self._dispatch_delete(obj)

    def _dispatch_add(self, obj: Object) -> None:
        for h in self.handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _dispatch_update(self, old: Object, new: Object) -> None:
        for h in self.handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _dispatch_delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        for h in self.handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("%s: event handler failed", self.resource.plural)


class Lister:
    """Read-only queries over an informer's cache. Objects are shared: do not modify them."""

    def __init__(self, indexer: Indexer, namespaced: bool) -> None:
        self.indexer = indexer
        self.namespaced = namespaced

    def get(self, name: str, namespace: str | None = None) -> Object | None:
        key = f"{namespace}/{name}" if self.namespaced and namespace else name
        return self.indexer.get(key)

    def list(
        self,
        namespace: str | None = None,
        selector: Callable[[dict[str, str]], bool] | None = None,
    ) -> list[Object]:
        """Objects of `namespace` (all if None) whose labels `selector` accepts (all if None)."""
        if namespace is not None and self.namespaced:
            objects = self.indexer.by_index(NAMESPACE_INDEX, namespace)
        else:
            objects = self.indexer.values()
        if selector is None:
            return objects
        return [o for o in objects if selector((o.get("metadata") or {}).get("labels") or {})]


class SharedInformerFactory:
    """One informer per (resource, namespace) in a process, started together."""

    def __init__(
        self,
        client: RESTClient,
        *,
        namespace: str | None = None,
        clock: Clock | None = None,
        use_watch_list: bool = True,
        transform: Transform | None = None,
    ) -> None:
        """`transform` is given to every informer made here (see `Informer`)."""
        self.client = client
        self.namespace = namespace
        self.transform = transform
        self.clock = clock or RealClock()
        self.use_watch_list = use_watch_list
        self._informers: dict[tuple[str, str, str, str], Informer] = {}
        self._started = False

    def informer(self, resource: Resource) -> Informer:
        key = (resource.group, resource.version, resource.plural, self.namespace or "")
        found = self._informers.get(key)
        if found is None:
            found = Informer(
                self.client,
                resource,
                namespace=self.namespace,
                clock=self.clock,
                use_watch_list=self.use_watch_list,
                transform=self.transform,
            )
            self._informers[key] = found
            if self._started:
                found.start()
        return found

    def start(self) -> None:
        """Start every informer asked for so far (and, from now on, each new one at once)."""
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def wait_for_cache_sync(self, seconds: float | None = None) -> bool:
        results = await asyncio.gather(
            *(i.wait_for_sync(seconds) for i in self._informers.values())
        )
        return all(results)

    async def shutdown(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
