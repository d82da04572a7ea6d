"""The vectorised Filter/Score kernels agree with the per-node references on random clusters.

For every vectorised plugin, `filter_nodes` over the node matrix must give, node by node, the
same verdict, status code and reasons as the plugin's per-node `filter` on the NodeInfo, and
`score_nodes` the same raw scores as `score`. Clusters are random nodes (resources, labels,
taints, cordons, host ports, extended resources) with random pods on them; the incoming pod
has random requests, tolerations, node selector, affinity terms and host ports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.plugins.balancedallocation import BalancedAllocation
from kube.scheduler.plugins.nodeaffinity import NodeAffinity
from kube.scheduler.plugins.nodename import NodeName
from kube.scheduler.plugins.nodeports import NodePorts
from kube.scheduler.plugins.noderesourcesfit import NodeResourcesFit
from kube.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kube.scheduler.plugins.tainttoleration import TaintToleration
from tests.scheduler.builders import cache_of, node, pod

LABEL_KEYS = ["zone", "disk", "rank", "gpu-model"]
LABEL_VALUES = ["a", "b", "c", "1", "7", "12", "-3", "x1"]
TAINT_KEYS = ["dedicated", "gpu", "node.kubernetes.io/unreachable"]
EFFECTS = ["NoSchedule", "NoExecute", "PreferNoSchedule"]
OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
PORTS = st.tuples(
    st.sampled_from(["TCP", "UDP"]),
    st.sampled_from(["0.0.0.0", "10.0.0.1", "10.0.0.2"]),
    st.sampled_from([80, 443]),
)

labels_st = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=3)
taint_st = st.fixed_dictionaries(
    {
        "key": st.sampled_from(TAINT_KEYS),
        "value": st.sampled_from(["", "true", "x"]),
        "effect": st.sampled_from(EFFECTS),
    }
)
toleration_st = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["", *TAINT_KEYS]),
        "operator": st.sampled_from(["Equal", "Exists"]),
        "value": st.sampled_from(["", "true", "x"]),
        "effect": st.sampled_from(["", *EFFECTS]),
    }
)
requirement_st = st.builds(
    lambda key, op, values: {"key": key, "operator": op, "values": values},
    st.sampled_from(LABEL_KEYS),
    st.sampled_from(OPERATORS),
    st.lists(st.sampled_from([*LABEL_VALUES, "zzz"]), min_size=0, max_size=2),
)
field_st = st.builds(
    lambda op, values: {"key": "metadata.name", "operator": op, "values": values},
    st.sampled_from(["In", "NotIn"]),
    st.lists(st.sampled_from(["n0", "n1", "n2", "nope"]), min_size=1, max_size=2),
)
term_st = st.fixed_dictionaries(
    {
        "matchExpressions": st.lists(requirement_st, max_size=2),
        "matchFields": st.lists(field_st, max_size=1),
    }
)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    count = draw(st.integers(1, 8))
    nodes = []
    pods = []
    for i in range(count):
        extra = {"example.com/gpu": str(draw(st.integers(0, 3)))} if draw(st.booleans()) else {}
        nodes.append(
            node(
                f"n{i}",
                cpu=f"{draw(st.integers(0, 8000))}m",
                memory=str(draw(st.integers(0, 2**34))),
                pods=str(draw(st.integers(0, 4))),
                labels=draw(labels_st),
                taints=draw(st.lists(taint_st, max_size=3)),
                unschedulable=draw(st.booleans()),
                extra=extra,
            )
        )
        for j in range(draw(st.integers(0, 3))):
            ports = draw(st.lists(PORTS, max_size=1))
            p = pod(
                f"p{i}-{j}",
                cpu=f"{draw(st.integers(0, 3000))}m" if draw(st.booleans()) else None,
                memory=str(draw(st.integers(0, 2**32))) if draw(st.booleans()) else None,
                node_name=f"n{i}",
            )
            if ports:
                proto, ip, number = ports[0]
                p["spec"]["containers"][0]["ports"] = [
                    {"containerPort": number, "hostPort": number, "protocol": proto, "hostIP": ip}
                ]
            pods.append(p)
    return nodes, pods


@st.composite
def incoming(draw: st.DrawFn) -> dict[str, Any]:
    extra = {"example.com/gpu": str(draw(st.integers(1, 2)))} if draw(st.booleans()) else {}
    spec: dict[str, Any] = {
        "tolerations": draw(st.lists(toleration_st, max_size=3)),
        "nodeSelector": draw(
            st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=1)
        ),
    }
    if draw(st.booleans()):
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": draw(st.lists(term_st, min_size=1, max_size=2))
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": w, "preference": t}
                    for w, t in draw(st.lists(st.tuples(st.integers(1, 100), term_st), max_size=2))
                ],
            }
        }
    if draw(st.booleans()):
        spec["nodeName"] = draw(st.sampled_from(["n0", "n1", "nope"]))
    p = pod(
        "incoming",
        cpu=f"{draw(st.integers(0, 4000))}m" if draw(st.booleans()) else None,
        memory=str(draw(st.integers(0, 2**33))) if draw(st.booleans()) else None,
        extra=extra,
        spec=spec,
    )
    ports = draw(st.lists(PORTS, max_size=2))
    if ports:
        p["spec"]["containers"][0]["ports"] = [
            {"containerPort": n, "hostPort": n, "protocol": proto, "hostIP": ip}
            for proto, ip, n in ports
        ]
    return p


FILTERS = [
    NodeUnschedulable(),
    NodeName(),
    TaintToleration(),
    NodeAffinity(),
    NodePorts(),
    NodeResourcesFit(),
]
SCORERS = [
    NodeResourcesFit(),
    NodeResourcesFit({"scoringStrategy": {"type": "MostAllocated"}}),
    NodeResourcesFit(
        {
            "scoringStrategy": {
                "type": "LeastAllocated",
                "resources": [
                    {"name": "cpu", "weight": 3},
                    {"name": "memory", "weight": 1},
                    {"name": "example.com/gpu", "weight": 2},
                ],
            }
        }
    ),
    BalancedAllocation(),
    BalancedAllocation(
        {"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "example.com/gpu"}]}
    ),
    TaintToleration(),
    NodeAffinity(),
]


def _check_filters(snapshot: Snapshot, p: dict[str, Any]) -> None:
    for plugin in FILTERS:
        state = CycleState()
        if hasattr(plugin, "pre_filter"):
            plugin.pre_filter(state, p, snapshot)
        mask = plugin.filter_nodes(state, p, snapshot)
        assert len(mask.codes) == len(snapshot)
        for row, info in enumerate(snapshot.node_infos):
            expected = plugin.filter(state, p, info)
            code = int(mask.codes[row])
            assert (code == 0) == expected.is_success(), (plugin.NAME, info.name)
            if code:
                got = mask.status_of(code)
                assert got.code == expected.code, (plugin.NAME, info.name)
                assert sorted(got.reasons) == sorted(expected.reasons), (plugin.NAME, info.name)


def _check_scores(snapshot: Snapshot, p: dict[str, Any]) -> None:
    rows = np.arange(len(snapshot), dtype=np.int64)
    for plugin in SCORERS:
        state = CycleState()
        vector = plugin.score_nodes(state, p, snapshot, rows).tolist()
        reference = [plugin.score(state, p, info)[0] for info in snapshot.node_infos]
        assert vector == reference, plugin.NAME


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), incoming())
def test_kernels_agree_with_the_per_node_references(
    cluster: tuple[list[dict[str, Any]], list[dict[str, Any]]], p: dict[str, Any]
) -> None:
    nodes, pods = cluster
    snapshot = cache_of(nodes, pods).snapshot()
    _check_filters(snapshot, p)
    _check_scores(snapshot, p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), incoming(), st.lists(st.integers(0, 7), max_size=4))
def test_kernels_agree_after_incremental_updates(
    cluster: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    p: dict[str, Any],
    removals: list[int],
) -> None:
    """Rows moved by node removals and pods removed keep the matrix equal to the NodeInfos."""
    nodes, pods = cluster
    cache = cache_of(nodes, pods)
    for index in removals:
        if index < len(pods):
            cache.remove_pod(pods[index])
        if index < len(nodes) and len(cache.matrix.names) > 1:
            cache.remove_node(nodes[index])
    snapshot = cache.snapshot()
    _check_filters(snapshot, p)
    _check_scores(snapshot, p)
