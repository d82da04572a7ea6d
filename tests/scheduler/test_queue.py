"""The scheduling queue on a FakeClock: order, backoff 1..10 s, hints, the 5-minute flush, gates."""

from __future__ import annotations

import asyncio
from typing import Any

from kube.client.clock import FakeClock
from kube.scheduler.framework.events import (
    ASSIGNED_POD,
    NODE,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    QueueingHint,
)
from kube.scheduler.framework.status import Status
from kube.scheduler.plugins.prioritysort import PrioritySort
from kube.scheduler.plugins.schedulinggates import SchedulingGates
from kube.scheduler.queue import QueuedPodInfo, SchedulingQueue
from tests.scheduler.builders import pod

GATES = SchedulingGates()


def pre_enqueue(p: dict[str, Any]) -> Status:
    return GATES.pre_enqueue(p).with_plugin(GATES.NAME)


def make_queue(
    clock: FakeClock, hints: dict[str, list[ClusterEventWithHint]] | None = None
) -> SchedulingQueue:
    return SchedulingQueue(PrioritySort().less, pre_enqueue, hints or {}, clock=clock)


async def fail(q: SchedulingQueue, plugins: set[str], *, error: bool = False) -> QueuedPodInfo:
    info = await q.pop()
    info.unschedulable_plugins = set(plugins)
    info.error = error
    q.add_unschedulable(info, q.scheduling_cycle)
    return info


async def test_active_queue_is_ordered_by_priority_then_time() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add(pod("low", priority=1))
    await clock.advance(1)
    q.add(pod("high", priority=10))
    await clock.advance(1)
    q.add(pod("low2", priority=1))
    assert [(await q.pop()).key for _ in range(3)] == [
        "default/high",
        "default/low",
        "default/low2",
    ]


async def test_pop_waits_for_a_pod() -> None:
    q = make_queue(FakeClock())
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add(pod("p"))
    assert (await asyncio.wait_for(waiter, 1)).key == "default/p"


async def test_backoff_doubles_from_one_second_up_to_ten() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add(pod("p"))
    durations = []
    for _ in range(6):
        info = await fail(q, set(), error=True)
        durations.append(q.backoff_duration(info))
        assert q.backoff_keys() == ["default/p"]
        await clock.advance(q.backoff_duration(info) - 0.5)
        assert q.flush_backoff_completed() == 0
        await clock.advance(0.5)
        assert q.flush_backoff_completed() == 1
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_unschedulable_pods_move_only_on_events_their_plugins_registered() -> None:
    clock = FakeClock()
    hints = {
        "NodeResourcesFit": [ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD))],
        "NodeAffinity": [ClusterEventWithHint(ClusterEvent(NODE, ActionType.UPDATE_NODE_LABEL))],
    }
    q = make_queue(clock, hints)
    q.add(pod("p"))
    await fail(q, {"NodeAffinity"})
    assert q.unschedulable_keys() == ["default/p"]
    assert q.move_all(ClusterEvent(NODE, ActionType.ADD)) == 0
    assert q.move_all(ClusterEvent(ASSIGNED_POD, ActionType.DELETE)) == 0
    await clock.advance(2)
    assert (
        q.move_all(ClusterEvent(NODE, ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT))
        == 1
    )
    assert q.active_keys() == ["default/p"]


async def test_queueing_hint_functions_decide() -> None:
    clock = FakeClock()

    def only_big_nodes(p: dict[str, Any], old: Any, new: Any) -> QueueingHint:
        return QueueingHint.QUEUE if new["metadata"]["name"] == "big" else QueueingHint.QUEUE_SKIP

    hints = {
        "NodeResourcesFit": [
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD), only_big_nodes)
        ]
    }
    q = make_queue(clock, hints)
    q.add(pod("p"))
    await fail(q, {"NodeResourcesFit"})
    await clock.advance(5)
    assert (
        q.move_all(ClusterEvent(NODE, ActionType.ADD), None, {"metadata": {"name": "small"}}) == 0
    )
    assert q.move_all(ClusterEvent(NODE, ActionType.ADD), None, {"metadata": {"name": "big"}}) == 1


async def test_a_move_during_the_cycle_sends_the_pod_to_backoff() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add(pod("p"))
    info = await q.pop()
    q.move_all(ClusterEvent(NODE, ActionType.ADD))  # happened while p was being scheduled
    info.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable(info, q.scheduling_cycle)
    assert q.backoff_keys() == ["default/p"]


async def test_unschedulable_pods_are_flushed_after_five_minutes() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add(pod("p"))
    await fail(q, {"NodeAffinity"})
    await clock.advance(299)
    assert q.flush_unschedulable_leftover() == 0
    await clock.advance(2)
    assert q.flush_unschedulable_leftover() == 1
    assert q.active_keys() == ["default/p"]


async def test_the_flush_loop_runs_on_the_clock() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    runner = asyncio.create_task(q.run())
    try:
        q.add(pod("p"))
        await fail(q, set(), error=True)
        await clock.advance(1.0)
        assert q.active_keys() == ["default/p"]
    finally:
        q.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_scheduling_gates_keep_a_pod_out_until_removed() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    gated = pod("g", spec={"schedulingGates": [{"name": "example.com/wait"}]})
    q.add(gated)
    assert q.active_keys() == []
    assert q.unschedulable["default/g"].gated
    assert q.move_all(ClusterEvent(NODE, ActionType.ADD)) == 0
    await clock.advance(400)
    assert q.flush_unschedulable_leftover() == 0
    ungated = pod("g")
    q.update(gated, ungated)
    assert q.active_keys() == ["default/g"]


def test_gates_message() -> None:
    status = GATES.pre_enqueue(pod("g", spec={"schedulingGates": [{"name": "a"}, {"name": "b"}]}))
    assert status.reasons == ["waiting for scheduling gates: [a b]"]


async def test_delete_removes_the_pod_everywhere() -> None:
    q = make_queue(FakeClock())
    q.add(pod("a"))
    q.add(pod("b"))
    q.delete(pod("a"))
    assert q.active_keys() == ["default/b"]
