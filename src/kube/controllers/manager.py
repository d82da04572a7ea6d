"""The controller-manager: which controllers run, and running them behind leader election.

`CONTROLLERS` is the table of every built-in controller by upstream name. `--controllers`
takes upstream's syntax: `*` (every controller on by default), `name` (enable), `-name`
(disable), comma-separated, e.g. `*,-garbage-collector`.

`run_controllers(ctx, names)` builds the enabled controllers, lets each `setup()` its
informers, starts the shared informers, waits for their caches, then runs every controller's
workers until cancelled.
"""

from __future__ import annotations

import asyncio
import logging

from kube.controllers.base import Controller, ControllerContext

log = logging.getLogger("kube.controllers")

# name -> controller class; each controller module adds its row (see `register`).
CONTROLLERS: dict[str, type[Controller]] = {}
# Controllers upstream leaves off unless asked for by name.
DISABLED_BY_DEFAULT: set[str] = set()


def register(cls: type[Controller], *, default: bool = True) -> type[Controller]:
    """Add a controller class to the table (a duplicate name is a programming error)."""
    if not cls.NAME:
        raise ValueError(f"{cls.__name__} has no NAME")
    if cls.NAME in CONTROLLERS and CONTROLLERS[cls.NAME] is not cls:
        raise ValueError(f"controller {cls.NAME!r} registered twice")
    CONTROLLERS[cls.NAME] = cls
    if not default:
        DISABLED_BY_DEFAULT.add(cls.NAME)
    return cls


def load_builtin() -> None:
    """Import every controller module so that each registers itself."""
    from kube.controllers import builtin  # noqa: F401


def enabled(spec: str) -> list[str]:
    """The controllers `--controllers` selects, in table order; ValueError on unknown names."""
    load_builtin()
    wanted: set[str] = set()
    star = False
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        name = raw.lstrip("-")
        if raw == "*":
            star = True
            continue
        if name not in CONTROLLERS:
            known = ", ".join(sorted(CONTROLLERS))
            raise ValueError(f'"{name}" is not in the list of known controllers ({known})')
    if star:
        wanted = {n for n in CONTROLLERS if n not in DISABLED_BY_DEFAULT}
    for raw in (part.strip() for part in spec.split(",")):
        if raw and raw != "*":
            if raw.startswith("-"):
                wanted.discard(raw[1:])
            else:
                wanted.add(raw)
    return [n for n in CONTROLLERS if n in wanted]


async def run_controllers(
    ctx: ControllerContext, names: list[str], ready: asyncio.Event | None = None
) -> None:
    """Run the named controllers until cancelled; `ready` is set once their caches are full."""
    load_builtin()
    controllers = [CONTROLLERS[name](ctx) for name in names]
    for controller in controllers:
        controller.setup()
    ctx.informers.start()
    await ctx.informers.wait_for_cache_sync()
    log.info("controllers running: %s", ", ".join(names))
    if ready is not None:
        ready.set()
    try:
        async with asyncio.TaskGroup() as group:
            for controller in controllers:
                group.create_task(controller.run(), name=f"controller-{controller.NAME}")
    finally:
        for controller in controllers:
            controller.shutdown()
        await ctx.informers.shutdown()
