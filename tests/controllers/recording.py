"""Run controllers in-process with an event recorder that keeps what it was told.

`controllers(...)` of conftest logs events; these tests assert the events a user would see
(`kubectl describe` lists them), so they run controllers with `Recorder`, which keeps
(object kind, object name, type, reason, message) in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube.api.meta import Object
from kube.client.informer import SharedInformerFactory
from kube.client.rest import RESTClient
from kube.controllers.base import ControllerContext
from kube.controllers.manager import run_controllers


@dataclass
class Recorder:
    """(kind, name, type, reason, message) of every event, in order.

    The controllers see every namespace of the shared server, so tests can look at their own
    namespace's events only (`in_namespace`, the `namespace` argument of `messages`).
    """

    events: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def event(self, obj: Object, event_type: str, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        self.events.append((str(obj.get("kind", "")), name, event_type, reason, message))
        self.namespaces.append(str(meta.get("namespace") or ""))

    def with_component(self, component: str, host: str | None = None) -> Recorder:
        """Every controller records into the same list, whatever its component."""
        return self

    def in_namespace(self, namespace: str) -> list[tuple[str, str, str, str, str]]:
        return [e for e, ns in zip(self.events, self.namespaces, strict=True) if ns == namespace]

    def messages(self, reason: str, name: str | None = None, namespace: str = "") -> list[str]:
        events = self.in_namespace(namespace) if namespace else self.events
        return [e[4] for e in events if e[3] == reason and (name is None or e[1] == name)]


@contextlib.asynccontextmanager
async def recording_controllers(
    kubeconfig: Path, *names: str, **options: Any
) -> AsyncIterator[tuple[ControllerContext, Recorder]]:
    """Run the named controllers in-process, recording their events, until the block ends."""
    recorder = Recorder()
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as rest:
        ctx = ControllerContext(
            rest, SharedInformerFactory(rest), recorder=recorder, options=dict(options)
        )
        task = asyncio.create_task(run_controllers(ctx, list(names)))
        try:
            await asyncio.wait_for(ctx.informers.wait_for_cache_sync(), 10)
            yield ctx, recorder
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def kubelet(
    client: RESTClient,
    namespace: str,
    delay: float = 0.0,
    only: Callable[[dict[str, Any]], bool] | None = None,
) -> AsyncIterator[None]:
    """A stand-in kubelet: every pod of `namespace` (that `only` accepts) becomes Running and
    Ready `delay` seconds after it appears, until the block ends."""
    from tests.controllers.conftest import PODS, set_pod_phase

    started: set[str] = set()

    async def start(pod: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):  # the pod may be gone already
            await set_pod_phase(client, pod, "Running")

    async def run() -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                for pod in (await client.list(PODS, namespace))["items"]:
                    uid = pod["metadata"]["uid"]
                    if uid in started or pod["metadata"].get("deletionTimestamp"):
                        continue
                    if only is not None and not only(pod):
                        continue
                    started.add(uid)
                    task = asyncio.create_task(start(pod))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(0.05)
        finally:
            for task in tasks:
                task.cancel()

    runner = asyncio.create_task(run())
    try:
        yield
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
