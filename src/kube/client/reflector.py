"""The reflector: keeps a local store equal to one collection on the server (client-go's Reflector).

It lists, then watches from the list's resourceVersion, and feeds every object and event to a
`ReflectorStore`. Its invariant: the store moves from one consistent snapshot of the collection
to the next, never skipping an event and never applying one twice, because

- a watch always resumes from the resourceVersion of the last event (or bookmark) it applied,
  so a dropped connection or a server-side timeout loses nothing;
- when the server has compacted that resourceVersion away (410 Gone, on the watch request or
  as an ERROR event), a watch can no longer be resumed: the reflector relists and hands the
  store the whole new snapshot (`replace`), from which the store works out what was deleted
  while nobody was looking;
- errors other than 410 back off exponentially (0.8 s doubling to 30 s, as client-go) and
  retry the watch from the same place.

Listing uses WatchList where the server offers it (a watch with `sendInitialEvents=true`: the
current objects as ADDED events, then a bookmark annotated `k8s.io/initial-events-end`), and
falls back to paged LISTs (500 per page) otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Protocol

from kube.api import errors
from kube.api.meta import Object
from kube.api.registry import Resource
from kube.client.clock import Clock, RealClock
from kube.client.rest import RESTClient

log = logging.getLogger("kube.client.reflector")

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
PAGE_SIZE = 500
MIN_WATCH_TIMEOUT = 300  # seconds; each watch asks for a random timeout in [min, 2*min)
BACKOFF_INITIAL = 0.8
BACKOFF_MAX = 30.0


class ReflectorStore(Protocol):
    """What a reflector feeds: the snapshot after a (re)list, then each change."""

    def replace(self, objects: list[Object], resource_version: str) -> None: ...
    def add(self, obj: Object) -> None: ...
    def update(self, obj: Object) -> None: ...
    def delete(self, obj: Object) -> None: ...


class Reflector:
    """Mirrors `resource` (in `namespace`, or all) matching the selectors into `store`."""

    def __init__(
        self,
        client: RESTClient,
        resource: Resource,
        store: ReflectorStore,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        use_watch_list: bool = True,
        page_size: int = PAGE_SIZE,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.store = store
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.use_watch_list = use_watch_list
        self.page_size = page_size
        self.clock = clock or RealClock()
        self.last_sync_resource_version = ""
        self.synced = asyncio.Event()
        # Counters a test or a metric can read: how often the reflector (re)listed.
        self.lists = 0
        self._need_list = True

    async def run(self) -> None:
        """List and watch until cancelled."""
        backoff = BACKOFF_INITIAL
        self._need_list = True
        while True:
            try:
                if self._need_list and not self.use_watch_list:
                    await self._list()
                await self._watch(initial=self._need_list)
                backoff = BACKOFF_INITIAL
                continue
            except errors.APIError as err:
                if err.code == 410:
                    log.info("%s: resourceVersion expired, relisting", self.resource.plural)
                    self._need_list = True
                    continue
                if self._need_list and self.use_watch_list and err.code in (400, 403, 422):
                    # The server does not offer WatchList: plain paged LISTs from now on.
                    log.info("%s: WatchList refused (%s); using LIST", self.resource.plural, err)
                    self.use_watch_list = False
                    continue
                log.warning("%s: %s; retrying in %.1fs", self.resource.plural, err, backoff)
            except (TimeoutError, OSError, ValueError) as err:
                log.warning("%s: %s; retrying in %.1fs", self.resource.plural, err, backoff)
            except Exception as err:
                log.exception("%s: unexpected error: %s", self.resource.plural, err)
            await self.clock.sleep(backoff * (1 + random.random() * 0.1))
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _list(self) -> None:
        """The snapshot by paged LISTs (all pages at the first page's resourceVersion)."""
        self.lists += 1
        items: list[Object] = []
        token = ""
        resource_version = ""
        while True:
            page = await self.client.list(
                self.resource,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_token=token,
            )
            meta = page.get("metadata") or {}
            resource_version = str(meta.get("resourceVersion") or resource_version)
            for item in page.get("items") or []:
                items.append(self._typed(item))
            token = str(meta.get("continue") or "")
            if not token:
                break
        self._replace(items, resource_version)

    def _replace(self, items: list[Object], resource_version: str) -> None:
        self._need_list = False
        self.store.replace(items, resource_version)
        self.last_sync_resource_version = resource_version
        self.synced.set()

    def _typed(self, obj: Object) -> Object:
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        return obj

    async def _watch(self, *, initial: bool) -> None:
        """One watch, applied event by event; with `initial`, a WatchList.

        A WatchList first streams the current objects as ADDED events and then a bookmark
        annotated `k8s.io/initial-events-end`: those objects replace the store at once (so
        deletions missed before are seen), and the same stream goes on with live events.
        """
        if initial:
            self.lists += 1
        pending: list[Object] | None = [] if initial else None
        events = self.client.watch(
            self.resource,
            self.namespace,
            resource_version="" if initial else self.last_sync_resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            allow_bookmarks=True,
            send_initial_events=initial,
            timeout_seconds=self._watch_timeout(),
        )
        async with contextlib.aclosing(events):
            async for event in events:
                obj = event.object
                meta = obj.get("metadata") or {}
                rv = str(meta.get("resourceVersion") or "")
                if pending is not None:
                    if event.type == "ADDED":
                        pending.append(self._typed(obj))
                    elif (
                        event.type == "BOOKMARK"
                        and (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true"
                    ):
                        self._replace(pending, rv)
                        pending = None
                    continue
                if event.type == "ADDED":
                    self.store.add(self._typed(obj))
                elif event.type == "MODIFIED":
                    self.store.update(self._typed(obj))
                elif event.type == "DELETED":
                    self.store.delete(self._typed(obj))
                elif event.type != "BOOKMARK":
                    log.warning("%s: unknown watch event %r", self.resource.plural, event.type)
                    continue
                if rv:
                    self.last_sync_resource_version = rv
        if pending is not None:
            raise errors.APIError(
                500, "InternalError", "the watch ended before its initial events did"
            )

    @staticmethod
    def _watch_timeout() -> int:
        return MIN_WATCH_TIMEOUT + int(random.random() * MIN_WATCH_TIMEOUT)
