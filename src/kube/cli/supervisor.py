"""Running components in order, k3s-style: rows of one table, each started when the last is ready.

A component is an `async def run(ctx, ready)` that does its set-up, calls `ready.set()` and then
serves until cancelled. The supervisor starts the rows in table order and waits for each to be
ready (or to fail) before starting the next, so the API server never starts before its storage.
Once all are up it waits: if any component returns or raises, the others are cancelled in
reverse order and the process exits non-zero, naming the component and its error. A stop
request (SIGINT/SIGTERM) cancels everything in reverse order and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger("kube.server")

Ctx = TypeVar("Ctx")


@dataclass(frozen=True)
class Component(Generic[Ctx]):
    """One row of the table: a name for messages and the coroutine that runs it."""

    name: str
    run: Callable[[Ctx, asyncio.Event], Coroutine[Any, Any, None]]


class ComponentFailed(Exception):
    """A component stopped on its own (while starting or later)."""

    def __init__(self, name: str, cause: BaseException | None) -> None:
        reason = f"{cause}" if cause is not None else "exited unexpectedly"
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.cause = cause


async def supervise(
    components: Sequence[Component[Ctx]],
    ctx: Ctx,
    *,
    on_ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run `components` in order until `stop` is set; raise `ComponentFailed` if one dies."""
    stop = stop or asyncio.Event()
    tasks: list[tuple[str, asyncio.Task[None]]] = []
    try:
        for component in components:
            ready = asyncio.Event()
            task = asyncio.create_task(component.run(ctx, ready), name=component.name)
            tasks.append((component.name, task))
            ready_wait = asyncio.create_task(ready.wait())
            stop_wait = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait(
                {task, ready_wait, stop_wait}, return_when=asyncio.FIRST_COMPLETED
            )
            ready_wait.cancel()
            stop_wait.cancel()
            if task in done:
                raise ComponentFailed(component.name, _cause(task))
            if stop.is_set():
                return
            log.info("component ready: %s", component.name)
        if on_ready is not None:
            on_ready()

        stop_wait = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            {stop_wait, *(t for _, t in tasks)}, return_when=asyncio.FIRST_COMPLETED
        )
        stop_wait.cancel()
        for name, task in tasks:
            if task in done:
                raise ComponentFailed(name, _cause(task))
    finally:
        for _, task in reversed(tasks):
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def _cause(task: asyncio.Task[None]) -> BaseException | None:
    return None if task.cancelled() else task.exception()


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` so components shut down cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
