"""The component table: order, readiness, and what happens when a component dies."""

from __future__ import annotations

import asyncio

import pytest

from kube.cli.supervisor import Component, ComponentFailed, supervise


class Log(list[str]):
    pass


def serving(name: str) -> Component[Log]:
    async def run(log: Log, ready: asyncio.Event) -> None:
        log.append(f"start {name}")
        await asyncio.sleep(0)
        ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            log.append(f"stop {name}")

    return Component(name, run)


def failing(name: str, *, before_ready: bool) -> Component[Log]:
    async def run(log: Log, ready: asyncio.Event) -> None:
        log.append(f"start {name}")
        if not before_ready:
            ready.set()
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{name} broke")

    return Component(name, run)


async def test_components_start_in_order_and_stop_in_reverse() -> None:
    log = Log()
    stop = asyncio.Event()
    await supervise(
        [serving("storage"), serving("apiserver"), serving("scheduler")],
        log,
        on_ready=stop.set,
        stop=stop,
    )
    assert log == [
        "start storage",
        "start apiserver",
        "start scheduler",
        "stop scheduler",
        "stop apiserver",
        "stop storage",
    ]


async def test_a_component_failing_to_start_stops_the_ones_before_it() -> None:
    log = Log()
    with pytest.raises(ComponentFailed, match="apiserver: apiserver broke"):
        await supervise(
            [serving("storage"), failing("apiserver", before_ready=True), serving("never")], log
        )
    assert log == ["start storage", "start apiserver", "stop storage"]


async def test_a_component_dying_later_takes_the_server_down() -> None:
    log = Log()
    with pytest.raises(ComponentFailed) as failed:
        await supervise([serving("storage"), failing("scheduler", before_ready=False)], log)
    assert failed.value.name == "scheduler"
    assert isinstance(failed.value.cause, RuntimeError)
    assert log == ["start storage", "start scheduler", "stop storage"]
