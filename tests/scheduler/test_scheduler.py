"""The scheduling cycle without an API server: placement, messages, preemption, adaptive search."""

from __future__ import annotations

from typing import Any

import pytest

from kube.scheduler.config import Configuration, PluginRef, PluginSet, Profile
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.registry import DuplicatePluginError, Registry
from kube.scheduler.framework.runtime import Framework, PluginNotFound
from kube.scheduler.plugins import in_tree_registry
from kube.scheduler.plugins.defaultpreemption import Candidate, DefaultPreemption
from kube.scheduler.queue import QueuedPodInfo
from kube.scheduler.scheduler import Scheduler, num_feasible_nodes_to_find
from tests.scheduler.builders import Events, node, pod


def scheduler_with(
    nodes: list[dict], pods: list[dict] = (), config: Configuration | None = None
) -> tuple[Scheduler, Events]:  # type: ignore[assignment]
    events = Events()
    s = Scheduler(None, config, recorder=events, seed=1)
    for n in nodes:
        s.on_node_add(n)
    for p in pods:
        s.on_pod_add(p)
    return s, events


def place(s: Scheduler, p: dict) -> str | None:
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    host, _, _ = s.schedule_pod(fwk, CycleState(), p, snapshot)
    return host


def test_pods_go_where_they_fit_and_least_allocated_wins() -> None:
    s, _ = scheduler_with(
        [
            node("small", cpu="1"),
            node("big", cpu="8"),
            node("tainted", cpu="16", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]),
        ]
    )
    assert place(s, pod("p", cpu="2")) == "big"
    assert (
        place(s, pod("q", cpu="500m", spec={"nodeSelector": {"kubernetes.io/hostname": "small"}}))
        == "small"
    )
    tolerant = pod("t", cpu="2", spec={"tolerations": [{"key": "k", "operator": "Exists"}]})
    assert place(s, tolerant) == "tainted"


# Upstream appends the preemption FitError (which ends in ".") with " %v.", hence "..".
NOWHERE = (
    "0/5 nodes are available: 2 node(s) had untolerated taint {k: v}, 3 Insufficient cpu. "
    "preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, "
    "3 No preemption victims found for incoming pod.."
)


async def test_a_pod_that_fits_nowhere_gets_upstreams_message() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    nodes = [node(f"n{i}", cpu="1") for i in range(3)]
    nodes += [node(f"t{i}", taints=[taint]) for i in range(2)]
    s, events = scheduler_with(nodes)
    s.on_pod_add(pod("p", cpu="2"))
    info = await s.queue.pop()
    s.schedule_pod_cycle(s.frameworks["default-scheduler"], info)
    assert events.seen == [("p", "Warning", "FailedScheduling", NOWHERE)]
    assert s.queue.unschedulable_keys() == ["default/p"]
    rejected = s.queue.unschedulable["default/p"].unschedulable_plugins
    assert rejected == {"NodeResourcesFit", "TaintToleration"}
    # A node label change concerns neither plugin: the pod stays.
    s.on_node_update(nodes[0], {**nodes[0], "metadata": {**nodes[0]["metadata"], "labels": {}}})
    assert s.queue.unschedulable_keys() == ["default/p"]
    # A new node may fit (NodeResourcesFit registered NodeAdd): back to the queue, to
    # backoffQ while its 1 s backoff runs.
    s.on_node_add(node("fits", cpu="4"))
    assert s.queue.backoff_keys() == ["default/p"]


async def test_no_nodes_at_all() -> None:
    s, events = scheduler_with([])
    s.on_pod_add(pod("p"))
    info = await s.queue.pop()
    s.schedule_pod_cycle(s.frameworks["default-scheduler"], info)
    assert events.seen == [
        ("p", "Warning", "FailedScheduling", "no nodes available to schedule pods")
    ]


def test_only_pods_for_our_profiles_are_queued() -> None:
    s, _ = scheduler_with([node("n")])
    s.on_pod_add(pod("mine"))
    s.on_pod_add(pod("theirs", spec={"schedulerName": "nobody"}))
    s.on_pod_add(pod("bound", node_name="n"))
    assert s.queue.active_keys() == ["default/mine"]
    assert s.cache.pod_count() == 1


def test_adaptive_percentage_of_nodes_to_score() -> None:
    assert num_feasible_nodes_to_find(0, 50) == 50
    assert num_feasible_nodes_to_find(0, 1000) == 1000 * 42 // 100
    assert num_feasible_nodes_to_find(0, 5000) == 5000 * 10 // 100
    assert num_feasible_nodes_to_find(0, 6000) == 6000 * 5 // 100
    assert num_feasible_nodes_to_find(50, 120) == 100
    assert num_feasible_nodes_to_find(10, 5000) == 500


def test_start_index_rotates_between_cycles() -> None:
    s, _ = scheduler_with([node(f"n{i:03}") for i in range(300)])
    fwk = s.frameworks["default-scheduler"]
    place(s, pod("a"))
    first = s.next_start_node_index
    assert first == num_feasible_nodes_to_find(0, 300)
    place(s, pod("b"))
    assert s.next_start_node_index == (2 * first) % 300
    assert fwk.name == "default-scheduler"


# -- preemption ---------------------------------------------------------------------------


def victims_on(s: Scheduler, p: dict) -> tuple[str | None, str]:
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    state = CycleState()
    host, diagnosis, _ = s.schedule_pod(fwk, state, p, snapshot)
    assert host is None
    assert diagnosis is not None
    nominated, post = fwk.run_post_filter(state, p, diagnosis)
    return nominated, post.message


def test_preemption_picks_the_node_with_the_lowest_priority_victims() -> None:
    nodes = [node("n1", cpu="2"), node("n2", cpu="2")]
    pods = [
        pod("high", cpu="2", priority=500, node_name="n1"),
        pod("low", cpu="2", priority=10, node_name="n2"),
    ]
    s, events = scheduler_with(nodes, pods)
    nominated, message = victims_on(s, pod("p", cpu="2", priority=1000))
    assert (nominated, message) == ("n2", "")
    assert events.seen == [("low", "Normal", "Preempted", "Preempted by pod uid-p on node n2")]


def test_preemption_reprieves_what_it_can() -> None:
    nodes = [node("n1", cpu="3")]
    pods = [
        pod("a", cpu="1", priority=1, node_name="n1"),
        pod("b", cpu="1", priority=2, node_name="n1"),
        pod("c", cpu="1", priority=3, node_name="n1"),
    ]
    s, _ = scheduler_with(nodes, pods)
    fwk = s.frameworks["default-scheduler"]
    plugin = fwk.instances["DefaultPreemption"]
    assert isinstance(plugin, DefaultPreemption)
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    state = CycleState()
    incoming = pod("p", cpu="2", priority=10)
    fwk.run_pre_filter(state, incoming, snapshot)
    victims, violations, status = plugin.select_victims(state, incoming, snapshot.node_infos[0])
    assert status.is_success()
    assert [v["metadata"]["name"] for v in victims] == ["b", "a"]
    assert violations == 0


def test_no_preemption_for_equal_priority_or_policy_never() -> None:
    s, _ = scheduler_with([node("n1", cpu="1")], [pod("x", cpu="1", node_name="n1")])
    assert victims_on(s, pod("p", cpu="1")) == (
        None,
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    )
    never = pod("p", cpu="1", priority=100, spec={"preemptionPolicy": "Never"})
    assert victims_on(s, never) == (None, "preemption: not eligible due to preemptionPolicy=Never.")


def test_pick_one_node_prefers_fewer_pdb_violations_then_lower_priorities() -> None:
    a = Candidate("a", [pod("x", priority=5)], pdb_violations=1)
    b = Candidate("b", [pod("y", priority=50)], pdb_violations=0)
    assert DefaultPreemption.pick([a, b]).node == "b"
    c = Candidate("c", [pod("z", priority=5), pod("w", priority=5)], 0)
    d = Candidate("d", [pod("v", priority=5)], 0)
    assert DefaultPreemption.pick([c, d]).node == "d"


# -- profiles and the registry ------------------------------------------------------------


def test_registry_refuses_duplicates() -> None:
    registry = in_tree_registry()
    with pytest.raises(DuplicatePluginError):
        registry.register("PrioritySort", lambda args, handle: None)
    other = Registry()
    other.register("Mine", lambda args, handle: None)
    registry.merge(other)
    assert "Mine" in registry


def test_profile_disables_and_reweights() -> None:
    profile = Profile(
        plugins={
            "score": PluginSet(
                enabled=[PluginRef("NodeResourcesFit", 5)],
                disabled=[PluginRef("ImageLocality")],
            ),
            "filter": PluginSet(disabled=[PluginRef("*")], enabled=[PluginRef("NodeName")]),
        }
    )
    fwk = Framework(profile, in_tree_registry())
    assert [p.NAME for p in fwk.points["filter"]] == ["NodeName"]
    names = [p.NAME for p in fwk.points["score"]]
    assert names[0] == "NodeResourcesFit"
    assert "ImageLocality" not in names
    assert fwk.weights["NodeResourcesFit"] == 5
    with pytest.raises(PluginNotFound):
        Framework(
            Profile(plugins={"filter": PluginSet(enabled=[PluginRef("Nope")])}), in_tree_registry()
        )


class Exploding:
    NAME = "Exploding"

    def __init__(self, args: dict, handle: Any) -> None:
        pass

    def filter(self, state: CycleState, p: dict, node_info: Any) -> Any:
        raise RuntimeError("boom")


async def test_a_plugin_that_raises_fails_the_pod_not_the_scheduler() -> None:
    registry = in_tree_registry()
    registry.register("Exploding", Exploding)
    config = Configuration(
        profiles=[Profile(plugins={"filter": PluginSet(enabled=[PluginRef("Exploding")])})]
    )
    events = Events()
    s = Scheduler(None, config, registry=registry, recorder=events)
    s.on_node_add(node("n"))
    s.on_pod_add(pod("p"))
    info: QueuedPodInfo = await s.queue.pop()
    s.schedule_pod_cycle(s.frameworks["default-scheduler"], info)
    assert events.seen == [
        ("p", "Warning", "FailedScheduling", "running Filter plugin 'Exploding': boom")
    ]
    assert s.queue.backoff_keys() == ["default/p"]


class PackByLabel:
    """An out-of-tree Score plugin: nodes labelled pack=yes get 100, others 0."""

    NAME = "PackByLabel"

    def __init__(self, args: dict, handle: Any) -> None:
        self.label = args.get("label", "pack")

    def score(self, state: CycleState, p: dict, node_info: Any) -> tuple[int, Any]:
        from kube.scheduler.framework.status import Status

        return (100 if node_info.labels.get(self.label) == "yes" else 0), Status()


class NoOddNodes:
    """An out-of-tree vectorised Filter plugin over the node matrix."""

    NAME = "NoOddNodes"

    def __init__(self, args: dict, handle: Any) -> None:
        pass

    def filter_nodes(self, state: CycleState, p: dict, snapshot: Any) -> Any:
        import numpy as np

        from kube.scheduler.framework.interfaces import NodeMask
        from kube.scheduler.framework.status import unresolvable

        odd = np.array([int(name[-1]) % 2 for name in snapshot.matrix.names], np.int64)
        return NodeMask(odd, lambda code: unresolvable("node(s) had an odd name"))

    def filter(self, state: CycleState, p: dict, node_info: Any) -> Any:
        from kube.scheduler.framework.status import Status, unresolvable

        return unresolvable("node(s) had an odd name") if int(node_info.name[-1]) % 2 else Status()


def test_out_of_tree_plugins_change_placement() -> None:
    registry = in_tree_registry()
    registry.register("PackByLabel", PackByLabel)
    registry.register("NoOddNodes", NoOddNodes)
    profile = Profile(
        plugins={
            "score": PluginSet(enabled=[PluginRef("PackByLabel", 50)]),
            "filter": PluginSet(enabled=[PluginRef("NoOddNodes")]),
        },
        plugin_config={"PackByLabel": {"label": "pack"}},
    )
    nodes = [
        node(f"n{i}", cpu="8" if i == 0 else "2", labels={"pack": "yes"} if i >= 2 else {})
        for i in range(4)
    ]
    plain, _ = scheduler_with(nodes)
    assert place(plain, pod("p", cpu="1")) == "n0"  # the emptiest
    s = Scheduler(None, Configuration(profiles=[profile]), registry=registry, seed=1)
    for n in nodes:
        s.on_node_add(n)
    assert place(s, pod("p", cpu="1")) == "n2"  # labelled, and even
