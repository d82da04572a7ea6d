"""Nominated pods are taken into account when filtering other pods (upstream's
RunFilterPluginsWithNominatedPods / addGENominatedPods).

A pod nominated to a node (preemption made room for it and it waits for its victims to go)
keeps that room: a pod of the same or lower priority is filtered against the node with the
nominated pod added, so it does not take the space; a pod of higher priority ignores it.
"""

from __future__ import annotations

from typing import Any

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.runtime import fit_error_message
from kube.scheduler.scheduler import Scheduler
from tests.scheduler.builders import node, pod


def scheduler(*nodes: dict[str, Any]) -> Scheduler:
    s = Scheduler(None, seed=1)
    for n in nodes:
        s.on_node_add(n)
    return s


def place(s: Scheduler, p: dict[str, Any]) -> tuple[str | None, str]:
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    host, diagnosis, status = s.schedule_pod(fwk, CycleState(), p, snapshot)
    return host, fit_error_message(diagnosis) if diagnosis is not None else status.message


def nominated(name: str, node_name: str, **kw: Any) -> dict[str, Any]:
    p = pod(name, **kw)
    p["status"]["nominatedNodeName"] = node_name
    return p


def test_a_nominated_pod_keeps_its_room_from_lower_and_equal_priority_pods() -> None:
    s = scheduler(node("n1", cpu="4"))
    assert place(s, pod("small", cpu="2", priority=0))[0] == "n1"
    s.on_pod_add(nominated("big", "n1", cpu="3", priority=100))
    assert place(s, pod("small", cpu="2", priority=0)) == (
        None,
        "0/1 nodes are available: 1 Insufficient cpu.",
    )
    assert place(s, pod("peer", cpu="2", priority=100))[0] is None  # same priority: kept too
    assert place(s, pod("tiny", cpu="1", priority=0))[0] == "n1"  # fits beside it


def test_a_higher_priority_pod_ignores_lower_priority_nominations() -> None:
    s = scheduler(node("n1", cpu="4"))
    s.on_pod_add(nominated("low", "n1", cpu="3", priority=0))
    assert place(s, pod("urgent", cpu="2", priority=1000))[0] == "n1"


def test_the_pod_goes_elsewhere_when_another_node_fits() -> None:
    s = scheduler(node("n1", cpu="8"), node("n2", cpu="3"))
    assert place(s, pod("p", cpu="2"))[0] == "n1"  # the emptier one
    s.on_pod_add(nominated("big", "n1", cpu="7", priority=10))
    assert place(s, pod("p", cpu="2"))[0] == "n2"


def test_a_pods_own_nomination_does_not_count_against_it() -> None:
    s = scheduler(node("n1", cpu="4"))
    me = nominated("me", "n1", cpu="3", priority=5)
    s.on_pod_add(me)
    assert place(s, me)[0] == "n1"


def test_nominations_follow_the_pod_lifecycle() -> None:
    s = scheduler(node("n1", cpu="4"))
    big = nominated("big", "n1", cpu="3", priority=100)
    s.on_pod_add(big)
    assert place(s, pod("small", cpu="2"))[0] is None
    s.on_pod_delete(big)  # deleted: its room is free again
    assert place(s, pod("small", cpu="2"))[0] == "n1"
    s.on_pod_add(big)
    bound = pod("big", cpu="3", priority=100, node_name="n1")
    s.on_pod_update(big, bound)  # bound: counted once, by the cache, not twice
    assert s.nominator.node_of("default/big") is None
    assert place(s, pod("one", cpu="1"))[0] == "n1"


def test_the_handle_nominates_after_preemption() -> None:
    s = scheduler(node("n1", cpu="4"))
    fwk = s.frameworks["default-scheduler"]
    fwk.handle.nominate(pod("big", cpu="3", priority=100), "n1")
    assert [p.key for p in fwk.handle.nominated_pods_for_node("n1")] == ["default/big"]
    assert place(s, pod("small", cpu="2"))[0] is None
    fwk.handle.nominate(pod("big", cpu="3", priority=100), "")
    assert fwk.handle.nominated_pods_for_node("n1") == []


def test_nominated_pods_reach_inter_pod_anti_affinity_through_add_pod() -> None:
    """The PreFilter extension add_pod sees the nominated pod: required anti-affinity to it."""
    s = scheduler(node("n1"), node("n2"))
    s.on_pod_add(nominated("db", "n1", labels={"app": "db"}, priority=10))
    anti = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {"app": "db"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    }
    for _ in range(4):  # whatever the rotating start index
        assert place(s, pod("web", spec=anti))[0] == "n2"


def test_run_filter_plugins_with_nominated_pods_checks_both_ways() -> None:
    s = scheduler(node("n1", cpu="4"))
    s.on_pod_add(nominated("big", "n1", cpu="3", priority=100))
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    info = snapshot.get("n1")
    assert info is not None
    small = pod("small", cpu="2")
    state = CycleState()
    assert fwk.run_pre_filter(state, small, snapshot).is_success()
    status = fwk.run_filter_plugins_with_nominated_pods(state, small, info)
    assert status.is_rejected()
    assert status.reasons == ["Insufficient cpu"]
    assert fwk.run_filter_plugins(state, small, info).is_success()  # without: it fits
    assert len(info.pods) == 0  # the snapshot's node was not touched


def test_preemption_leaves_room_for_pods_already_nominated_to_the_node() -> None:
    """SelectVictimsOnNode filters with the nominated pods added (upstream): evicting the
    only low-priority pod on n1 would not make room for both, so no victims are chosen."""
    s = scheduler(node("n1", cpu="4"))
    s.on_pod_add(pod("low", cpu="2", priority=0, node_name="n1"))
    s.on_pod_add(nominated("first", "n1", cpu="3", priority=100))
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    info = snapshot.get("n1")
    assert info is not None
    preemption = fwk.instances["DefaultPreemption"]
    second = pod("second", cpu="2", priority=100)
    state = CycleState()
    assert fwk.run_pre_filter(state, second, snapshot).is_success()
    victims, _, status = preemption.select_victims(state, second, info)
    assert victims == []
    assert not status.is_success()
