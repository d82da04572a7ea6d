"""What every controller is: informers that enqueue keys, and one `sync(key)` that reconciles.

STYLE.md's client-go pattern. A controller subclass

- names itself (`NAME`, upstream's name as `--controllers` spells it: `deployment`,
  `replicaset`, `garbage-collector`, ...);
- in `setup()` asks the shared informer factory for the informers it needs and registers
  handlers that only compute keys and `enqueue` them (never do work in a handler);
- implements `async def sync(self, key)`: read the desired and the observed state from the
  listers, write the difference through the REST client, raise on failure. It is written to be
  called any number of times for the same key (level-triggered, idempotent).

Retries, backoff, giving up and "never two workers on one key" are the shared worker loop's
(`kube.client.worker.run_workers`), not the controller's.

`ControllerContext` is what the manager hands every controller: the REST client, the shared
informer factory, the event recorder, the clock (fake in tests) and the options.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from kube.api.meta import Object
from kube.client.clock import Clock, RealClock
from kube.client.informer import DeletedFinalStateUnknown, SharedInformerFactory, object_key
from kube.client.rest import RESTClient
from kube.client.worker import DEFAULT_MAX_RETRIES, run_workers
from kube.client.workqueue import RateLimitingQueue


class EventRecorder(Protocol):
    """Writes core/v1 Events about objects (see `kube.client.events`)."""

    def event(self, obj: Object, event_type: str, reason: str, message: str) -> None: ...

    def with_component(self, component: str, host: str | None = None) -> EventRecorder: ...


class _NoEvents:
    def event(self, obj: Object, event_type: str, reason: str, message: str) -> None:
        logging.getLogger("kube.events").info(
            "%s %s %s: %s", event_type, object_key(obj), reason, message
        )

    def with_component(self, component: str, host: str | None = None) -> EventRecorder:
        return self


@dataclass
class ControllerContext:
    client: RESTClient
    informers: SharedInformerFactory
    recorder: EventRecorder = field(default_factory=_NoEvents)
    clock: Clock = field(default_factory=RealClock)
    # Per-controller options by flag name (`node-monitor-grace-period`: 40.0, ...).
    options: dict[str, Any] = field(default_factory=dict)


def key_of(obj: Object | DeletedFinalStateUnknown) -> str:
    """The queue key of an object, or of a delete seen only on relist."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    return object_key(obj)


class Controller:
    """Base class: a queue, the worker loop, and the hooks a controller fills in."""

    NAME: ClassVar[str] = ""
    # The component its events name as their source (`deployment-controller`, ...);
    # default `<NAME>-controller`.
    COMPONENT: ClassVar[str] = ""
    # Upstream's --concurrent-*-syncs defaults are 5 for most workload controllers.
    WORKERS: ClassVar[int] = 5
    # The --concurrent-*-syncs flag that overrides WORKERS, if upstream has one.
    WORKERS_FLAG: ClassVar[str] = ""
    MAX_RETRIES: ClassVar[int | None] = DEFAULT_MAX_RETRIES

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder.with_component(self.COMPONENT or f"{self.NAME}-controller")
        self.clock = ctx.clock
        self.log = logging.getLogger(f"kube.controllers.{self.NAME}")
        self.queue: RateLimitingQueue[str] = RateLimitingQueue(self.NAME, clock=ctx.clock)

    def setup(self) -> None:
        """Ask for informers and register handlers; called once, before informers start."""

    def enqueue(self, obj: Object | DeletedFinalStateUnknown) -> None:
        self.queue.add(key_of(obj))

    def enqueue_after(self, key: str, seconds: float) -> None:
        self.queue.add_after(key, seconds)

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    def workers(self) -> int:
        """WORKERS, or the controller's --concurrent-*-syncs value when given."""
        flagged = self.ctx.options.get(self.WORKERS_FLAG) if self.WORKERS_FLAG else None
        return int(flagged) if flagged else self.WORKERS

    async def run(self, workers: int | None = None) -> None:
        """Process keys until the queue shuts down (or the task is cancelled)."""
        await run_workers(
            self.queue,
            self.sync,
            workers or self.workers(),
            max_retries=self.MAX_RETRIES,
            name=self.NAME,
            log=self.log,
        )

    def shutdown(self) -> None:
        self.queue.shutdown()
