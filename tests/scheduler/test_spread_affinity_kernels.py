"""PodTopologySpread and InterPodAffinity: the matrix kernels agree with the per-node plugins.

`filter_nodes` must give, node by node, the verdict, status code and reasons of the per-node
`filter` (after the same PreFilter), and `score_nodes` the raw scores of `score` (after the
same PreScore). Clusters are random nodes with random zone/rack/hostname labels (some
missing), taints and random labelled pods, some carrying their own required and preferred
(anti-)affinity terms; the incoming pod has random spread constraints (both
`whenUnsatisfiable` modes, minDomains, node affinity/taint policies, matchLabelKeys), pod
(anti-)affinity terms, a node selector and tolerations.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.plugins.helpers import state_key
from kube.scheduler.plugins.interpodaffinity import InterPodAffinity
from kube.scheduler.plugins.podtopologyspread import PodTopologySpread
from tests.scheduler.builders import cache_of, node, pod

TOPOLOGY_KEYS = ["zone", "rack", "kubernetes.io/hostname", "absent"]
APPS = ["web", "db", "cache"]
NAMESPACES = ["default", "other"]

selector_st = st.one_of(
    st.builds(lambda app: {"matchLabels": {"app": app}}, st.sampled_from(APPS)),
    st.builds(
        lambda apps: {"matchExpressions": [{"key": "app", "operator": "In", "values": apps}]},
        st.lists(st.sampled_from(APPS), min_size=1, max_size=2),
    ),
    st.just({}),
)
pod_term_st = st.builds(
    lambda key, selector, namespaces, mlk: {
        "topologyKey": key,
        "labelSelector": selector,
        **({"namespaces": namespaces} if namespaces else {}),
        **({"matchLabelKeys": ["tier"]} if mlk else {}),
    },
    st.sampled_from(TOPOLOGY_KEYS),
    selector_st,
    st.lists(st.sampled_from(NAMESPACES), max_size=2),
    st.booleans(),
)
preferred_st = st.lists(
    st.builds(lambda w, t: {"weight": w, "podAffinityTerm": t}, st.integers(1, 100), pod_term_st),
    max_size=2,
)


@st.composite
def affinity(draw: st.DrawFn, existing: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("podAffinity", "podAntiAffinity"):
        if draw(st.integers(0, 2)) == 0:
            continue
        out[kind] = {
            "requiredDuringSchedulingIgnoredDuringExecution": draw(
                st.lists(pod_term_st, max_size=1 if existing else 2)
            ),
            "preferredDuringSchedulingIgnoredDuringExecution": draw(preferred_st),
        }
    return out


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes, pods = [], []
    for i in range(draw(st.integers(1, 9))):
        labels = {"kubernetes.io/hostname": f"n{i}"} if draw(st.integers(0, 4)) else {}
        if draw(st.integers(0, 5)):
            labels["zone"] = draw(st.sampled_from(["a", "b", "c"]))
        if draw(st.booleans()):
            labels["rack"] = draw(st.sampled_from(["r1", "r2"]))
        if draw(st.booleans()):
            labels["disk"] = "ssd"
        taints = (
            [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]
            if draw(st.integers(0, 3)) == 0
            else []
        )
        nodes.append(node(f"n{i}", labels=labels, taints=taints))
        for j in range(draw(st.integers(0, 4))):
            spec: dict[str, Any] = {}
            if draw(st.integers(0, 2)) == 0:
                spec["affinity"] = draw(affinity(existing=True))
            pods.append(
                pod(
                    f"p{i}-{j}",
                    namespace=draw(st.sampled_from(NAMESPACES)),
                    node_name=f"n{i}",
                    labels={
                        "app": draw(st.sampled_from(APPS)),
                        "tier": draw(st.sampled_from(["1", "2"])),
                    },
                    spec=spec,
                )
            )
    return nodes, pods


spread_st = st.builds(
    lambda key, skew, mode, selector, min_domains, aff, taints, mlk: {
        "topologyKey": key,
        "maxSkew": skew,
        "whenUnsatisfiable": mode,
        "labelSelector": selector,
        **({"minDomains": min_domains} if min_domains else {}),
        "nodeAffinityPolicy": aff,
        "nodeTaintsPolicy": taints,
        **({"matchLabelKeys": ["tier"]} if mlk else {}),
    },
    st.sampled_from(["zone", "zone", "rack", "kubernetes.io/hostname", "absent"]),
    st.integers(1, 2),
    st.sampled_from(["DoNotSchedule", "ScheduleAnyway"]),
    selector_st,
    st.integers(0, 4),
    st.sampled_from(["Honor", "Ignore"]),
    st.sampled_from(["Honor", "Ignore"]),
    st.booleans(),
)


@st.composite
def incoming(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "topologySpreadConstraints": draw(st.lists(spread_st, max_size=2)),
        "affinity": draw(affinity(existing=False)),
    }
    if draw(st.integers(0, 3)) == 0:
        spec["nodeSelector"] = {"disk": "ssd"}
    if draw(st.integers(0, 3)) == 0:
        term = {"matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["r2"]}]}
        spec["affinity"]["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    if draw(st.booleans()):
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    return pod(
        "incoming",
        namespace=draw(st.sampled_from(NAMESPACES)),
        labels={"app": draw(st.sampled_from(APPS)), "tier": draw(st.sampled_from(["1", "2"]))},
        spec=spec,
    )


def _check(snapshot: Snapshot, p: dict[str, Any]) -> None:
    rows = np.arange(len(snapshot), dtype=np.int64)
    spread = PodTopologySpread()
    by_node, by_matrix = CycleState(), CycleState()
    if spread.pre_filter_reference(by_node, p, snapshot).is_success():
        assert spread.pre_filter(by_matrix, p, snapshot).is_success()
        expected = by_node.read(state_key("PreFilter", spread.NAME))
        got = by_matrix.read(state_key("PreFilter", spread.NAME))
        # as dicts: a domain counted with 0 pods (it sets the minimum) must be there too
        assert [dict(c) for c in got.counts] == [dict(c) for c in expected.counts]
    # PreScore's counts: node by node (no snapshot) and from the matrix (the scheduler's).
    with_matrix = PodTopologySpread()
    with_matrix.handle = SimpleNamespace(snapshot=snapshot)  # type: ignore[assignment]
    by_node, by_matrix = CycleState(), CycleState()
    if spread.pre_score(by_node, p, snapshot.node_infos).is_success():
        assert with_matrix.pre_score(by_matrix, p, snapshot.node_infos).is_success()
        want = by_node.read(state_key("PreScore", spread.NAME))
        got = by_matrix.read(state_key("PreScore", spread.NAME))
        assert (got.weights, got.ignored) == (want.weights, want.ignored)
        for i, c in enumerate(want.soft):
            for info in snapshot.node_infos:
                value = info.labels.get(c.topology_key)
                if value is not None and info.name not in want.ignored:
                    assert got.count(i, value) == want.counts[i].get(value, 0), (c, info.name)
        vector = with_matrix.score_nodes(by_matrix, p, snapshot, rows).tolist()
        assert vector == [spread.score(by_node, p, info)[0] for info in snapshot.node_infos]
    affinity = InterPodAffinity()
    by_pod, by_term = CycleState(), CycleState()
    if affinity.pre_filter_reference(by_pod, p, snapshot).is_success():
        assert affinity.pre_filter(by_term, p, snapshot).is_success()
        want = by_pod.read(state_key("PreFilter", affinity.NAME))
        have = by_term.read(state_key("PreFilter", affinity.NAME))
        for counts in ("affinity_counts", "anti_counts", "existing_anti_counts"):
            assert +getattr(have, counts).pairs() == +getattr(want, counts).pairs(), counts
    # PreScore's sums: pod by pod (no snapshot) and from the matrix's kept counts.
    with_matrix = InterPodAffinity()
    with_matrix.handle = SimpleNamespace(  # type: ignore[assignment]
        snapshot=snapshot, namespace_labels=lambda ns: None
    )
    by_pod, by_term = CycleState(), CycleState()
    if affinity.pre_score(by_pod, p, snapshot.node_infos).is_success():
        assert with_matrix.pre_score(by_term, p, snapshot.node_infos).is_success()
        want = by_pod.read(state_key("PreScore", affinity.NAME))
        have = by_term.read(state_key("PreScore", affinity.NAME))
        assert have.pairs() == want.pairs()
        vector = with_matrix.score_nodes(by_term, p, snapshot, rows).tolist()
        assert vector == [affinity.score(by_pod, p, info)[0] for info in snapshot.node_infos]
    else:
        assert not with_matrix.pre_score(by_term, p, snapshot.node_infos).is_success()
    for plugin in (spread, affinity):
        state = CycleState()
        if plugin.pre_filter(state, p, snapshot).is_success():
            mask = plugin.filter_nodes(state, p, snapshot)
            assert mask.codes.shape == (len(snapshot),)
            for row, info in enumerate(snapshot.node_infos):
                expected = plugin.filter(state, p, info)
                code = int(mask.codes[row])
                assert (code == 0) == expected.is_success(), (plugin.NAME, info.name, expected)
                if code:
                    got = mask.status_of(code)
                    assert got.code == expected.code, (plugin.NAME, info.name)
                    assert got.reasons == expected.reasons, (plugin.NAME, info.name)
        if plugin.pre_score(state, p, snapshot.node_infos).is_success():
            vector = plugin.score_nodes(state, p, snapshot, rows).tolist()
            reference = [plugin.score(state, p, info)[0] for info in snapshot.node_infos]
            assert vector == reference, plugin.NAME
            # a subset of rows, in another order, scores the same nodes the same
            back = rows[::-1].copy()
            assert plugin.score_nodes(state, p, snapshot, back).tolist() == reference[::-1]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), incoming())
def test_spread_and_affinity_kernels_agree_with_the_per_node_plugins(
    cluster: tuple[list[dict[str, Any]], list[dict[str, Any]]], p: dict[str, Any]
) -> None:
    nodes, pods = cluster
    _check(cache_of(nodes, pods).snapshot(), p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), incoming(), st.lists(st.integers(0, 8), max_size=4))
def test_spread_and_affinity_kernels_agree_after_removals(
    cluster: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    p: dict[str, Any],
    removals: list[int],
) -> None:
    """Rows moved by node removals keep each node's domain ids with the node."""
    nodes, pods = cluster
    cache = cache_of(nodes, pods)
    for index in removals:
        if index < len(pods):
            cache.remove_pod(pods[index])
        if index < len(nodes) and len(cache.matrix.names) > 1:
            cache.remove_node(nodes[index])
    _check(cache.snapshot(), p)


def test_a_node_without_the_topology_key_is_unresolvable_and_a_full_zone_unschedulable() -> None:
    """The user-visible reasons: missing label vs. skew, as kube-scheduler words them."""
    nodes = [
        node("n0", labels={"zone": "a"}),
        node("n1", labels={"zone": "b"}),
        node("n2", labels={}),
    ]
    pods = [pod("p0", node_name="n0", labels={"app": "web"})]
    snapshot = cache_of(nodes, pods).snapshot()
    p = pod(
        "incoming",
        labels={"app": "web"},
        spec={
            "topologySpreadConstraints": [
                {
                    "topologyKey": "zone",
                    "maxSkew": 1,
                    "labelSelector": {"matchLabels": {"app": "web"}},
                }
            ]
        },
    )
    plugin = PodTopologySpread()
    state = CycleState()
    assert plugin.pre_filter(state, p, snapshot).is_success()
    mask = plugin.filter_nodes(state, p, snapshot)
    verdicts = {
        name: (mask.status_of(int(c)).reasons if c else [])
        for name, c in zip(snapshot.matrix.names, mask.codes.tolist(), strict=True)
    }
    assert verdicts == {
        "n0": ["node(s) didn't match pod topology spread constraints"],
        "n1": [],
        "n2": ["node(s) didn't match pod topology spread constraints (missing required label)"],
    }
