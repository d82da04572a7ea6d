"""Permit's waiting pods: allow, reject and timeout, through upstream's framework.Handle API.

A Permit plugin that answers Wait puts the assumed pod among the handle's waiting pods; its
binding cycle goes on once every waiting plugin allows it (`WaitingPod.allow`), and fails the
pod as Unschedulable when anyone rejects it or a plugin's timeout passes first, with upstream's
"rejected due to timeout after waiting 10s at plugin Gate". Time is a FakeClock.
"""

from __future__ import annotations

from typing import Any

import pytest

from kube.client.clock import FakeClock
from kube.scheduler.config import Configuration, PluginRef, PluginSet, Profile
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.runtime import Framework, Handle
from kube.scheduler.framework.status import Code, Status, unschedulable
from kube.scheduler.framework.waiting_pods import WaitingPod, go_duration
from kube.scheduler.plugins import in_tree_registry
from kube.scheduler.scheduler import Scheduler
from tests.scheduler.builders import Events, node, pod


class Gate:
    """Asks every pod to wait `timeout` seconds (args), or rejects pods labelled no=yes."""

    NAME = "Gate"

    def __init__(self, args: dict[str, Any], handle: Any) -> None:
        self.timeout = float(args.get("timeout", 10))

    def permit(self, state: CycleState, p: dict[str, Any], node_name: str) -> tuple[Status, float]:
        if p["metadata"]["labels"].get("no") == "yes":
            return unschedulable("the gate is shut"), 0.0
        return Status(Code.WAIT), self.timeout


class Quorum(Gate):
    NAME = "Quorum"


class Binder:
    """Records bindings instead of calling the API (no client in unit tests)."""

    NAME = "Binder"
    bound: list[tuple[str, str]] = []

    def __init__(self, args: dict[str, Any], handle: Any) -> None:
        pass

    async def bind(self, state: CycleState, p: dict[str, Any], node_name: str) -> Status:
        Binder.bound.append((p["metadata"]["name"], node_name))
        return Status()


def setup(
    *gates: str, args: dict[str, dict[str, Any]] | None = None
) -> tuple[Scheduler, Events, FakeClock]:
    registry = in_tree_registry()
    for cls in (Gate, Quorum, Binder):
        registry.register(cls.NAME, cls)
    Binder.bound = []
    profile = Profile(
        plugins={
            "permit": PluginSet(enabled=[PluginRef(g) for g in gates]),
            "bind": PluginSet(enabled=[PluginRef("Binder")], disabled=[PluginRef("*")]),
        },
        plugin_config=args or {},
    )
    events, clock = Events(), FakeClock()
    s = Scheduler(None, Configuration(profiles=[profile]), registry=registry, recorder=events)
    s.clock = clock
    for fwk in s.frameworks.values():
        fwk.handle.clock = clock
    s.on_node_add(node("n1"))
    return s, events, clock


async def schedule(s: Scheduler, p: dict[str, Any]) -> None:
    s.on_pod_add(p)
    info = await s.queue.pop()
    s.schedule_pod_cycle(s.frameworks["default-scheduler"], info)
    await s.clock.sleep(0)  # let the binding task start waiting


def handle(s: Scheduler) -> Handle:
    return s.frameworks["default-scheduler"].handle


async def test_an_allowed_pod_binds_once_every_waiting_plugin_allows_it() -> None:
    s, events, _clock = setup("Gate", "Quorum")
    await schedule(s, pod("p"))
    waiting = handle(s).get_waiting_pod("uid-p")
    assert waiting is not None
    assert sorted(waiting.get_pending_plugins()) == ["Gate", "Quorum"]
    assert s.cache.is_assumed(pod("p", node_name="n1"))  # the node's room is held meanwhile
    seen: list[str] = []
    handle(s).iterate_over_waiting_pods(lambda wp: seen.append(wp.get_pod()["metadata"]["name"]))
    assert seen == ["p"]
    waiting.allow("Gate")
    await s.clock.sleep(0)
    assert Binder.bound == []  # Quorum has not allowed it yet
    waiting.allow("Quorum")
    await s.wait_idle()
    assert Binder.bound == [("p", "n1")]
    assert events.seen == [("p", "Normal", "Scheduled", "Successfully assigned default/p to n1")]
    assert handle(s).get_waiting_pod("uid-p") is None


async def test_a_waiting_pod_times_out_with_upstreams_message() -> None:
    s, events, clock = setup("Gate", "Quorum", args={"Quorum": {"timeout": 30}})
    await schedule(s, pod("p"))
    await clock.advance(9.5)
    assert handle(s).get_waiting_pod("uid-p") is not None
    await clock.advance(0.5)
    await s.wait_idle()
    assert Binder.bound == []
    assert events.seen == [
        (
            "p",
            "Warning",
            "FailedScheduling",
            "0/1 nodes are available: 1 rejected due to timeout after waiting 10s at plugin Gate.",
        )
    ]
    assert handle(s).get_waiting_pod("uid-p") is None
    assert not s.cache.is_assumed(pod("p", node_name="n1"))  # forgotten: the room is free
    assert s.queue.unschedulable_keys() == ["default/p"]  # rejected: waits for an event
    assert clock.next_deadline() != 30.0  # Quorum's timer was cancelled with the rejection


async def test_a_plugin_rejects_a_waiting_pod() -> None:
    s, events, _clock = setup("Gate")
    await schedule(s, pod("p"))
    waiting = handle(s).get_waiting_pod("uid-p")
    assert waiting is not None
    waiting.reject("Gate", "the gang did not assemble")
    waiting.allow("Gate")  # too late: the first answer counts
    await s.wait_idle()
    assert Binder.bound == []
    assert events.seen[-1][2:] == (
        "FailedScheduling",
        "0/1 nodes are available: 1 the gang did not assemble.",
    )


async def test_deleting_a_waiting_pod_rejects_it() -> None:
    s, events, _clock = setup("Gate")
    p = pod("p")
    await schedule(s, p)
    s.on_pod_delete(p)
    await s.wait_idle()
    assert Binder.bound == []
    assert events.seen[-1][3] == "0/1 nodes are available: 1 removed."
    assert handle(s).get_waiting_pod("uid-p") is None


async def test_a_rejecting_permit_fails_the_cycle_without_waiting() -> None:
    s, events, _clock = setup("Gate")
    await schedule(s, pod("p", labels={"no": "yes"}))
    await s.wait_idle()
    assert handle(s).get_waiting_pod("uid-p") is None
    assert events.seen == [("p", "Warning", "FailedScheduling", "the gate is shut")]


async def test_run_permit_reports_wait_and_caps_the_timeout_at_15_minutes() -> None:
    s, _events, _clock = setup("Gate", args={"Gate": {"timeout": 3600}})
    fwk: Framework = s.frameworks["default-scheduler"]
    status, timeout = fwk.run_permit(CycleState(), pod("p"), "n1")
    assert status.code == Code.WAIT
    assert status.message == "one or more plugins asked to wait and no plugin rejected pod 'p'"
    assert timeout == 900.0


async def test_garbage_from_permit_is_an_error_not_a_crash() -> None:
    class Garbage:
        NAME = "Garbage"

        def __init__(self, args: dict[str, Any], handle: Any) -> None:
            pass

        def permit(self, state: CycleState, p: dict[str, Any], node_name: str) -> Any:
            return "yes"

    registry = in_tree_registry()
    registry.register("Garbage", Garbage)
    profile = Profile(plugins={"permit": PluginSet(enabled=[PluginRef("Garbage")])})
    fwk = Framework(profile, registry)
    status, _ = fwk.run_permit(CycleState(), pod("p"), "n1")
    assert status.code == Code.ERROR
    assert status.message == "Permit plugin 'Garbage' returned str, not a (Status, timeout) pair"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10, "10s"), (0.5, "500ms"), (90, "1m30s"), (3600, "1h0m0s"), (1.5, "1.5s"), (0, "0s")],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


async def test_waiting_pod_timers_run_on_the_clock() -> None:
    clock = FakeClock()
    wp = WaitingPod(pod("p"), {"A": 1.0, "B": 2.0}, clock)
    wp.allow("A")
    await clock.advance(1.5)
    assert wp.result is None
    await clock.advance(1.0)
    assert wp.result is not None
    assert wp.result.message == "rejected due to timeout after waiting 2s at plugin B"
    assert wp.result.plugin == "B"
    assert (await wp.wait()).is_rejected()
