"""The cache's one snapshot, kept current incrementally, equals a snapshot built from scratch.

Random sequences of node adds/updates/removals and pod adds/assumes/forgets/removals/relabels/
terminations: after each, the snapshot's rows follow the matrix, its lookup by name is right,
its lists of nodes with (required anti-)affinity pods and its image node counts equal a scan
of every node (what InterPodAffinity and ImageLocality used to do per pod), and the matrix's
kept per-selector pod counts (PodTopologySpread's) and per-term sums (InterPodAffinity's) equal
a count from scratch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.api.selectors import from_label_selector
from kube.scheduler.cache import Cache
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from kube.scheduler.plugins.imagelocality import node_images
from kube.scheduler.podcounts import matching_pods
from kube.scheduler.termcounts import TermCounts
from tests.scheduler.builders import node, pod

ANTI = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": "zone"}
        ]
    }
}
PREFERRED = {
    "podAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 1,
                "podAffinityTerm": {"labelSelector": {}, "topologyKey": "zone"},
            }
        ]
    }
}
# the term's selector takes the value of the pod's own label "v": a relabel changes its group
MATCH_LABEL_KEYS = {
    "podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {"a": "b"}},
                "matchLabelKeys": ["v"],
                "topologyKey": "zone",
            }
        ]
    }
}

op_st = st.tuples(
    st.sampled_from(
        ["node", "drop-node", "pod", "assume", "forget", "drop-pod", "relabel", "terminate"]
    ),
    st.integers(0, 4),
    st.integers(0, 5),
    st.sampled_from([None, ANTI, PREFERRED, MATCH_LABEL_KEYS]),
    st.sampled_from([[], ["img:1"], ["img:1", "other"]]),
)


SELECTORS = [{"matchExpressions": [{"key": "v", "operator": "Exists"}]}, {}]


def _counts(cache: Cache) -> list[list[int]]:
    """The kept column of each selector in SELECTORS (made on first use), live rows only."""
    snap, m = cache.snapshot(), cache.matrix
    return [
        m.pod_counts.column(
            ("default", str(i), False),
            from_label_selector(sel),
            snap.node_infos,
            len(m.pod_count),
        )[: m.n].tolist()
        for i, sel in enumerate(SELECTORS)
    ]


def _check(cache: Cache) -> None:
    snap = cache.snapshot()
    for sel, kept in zip(SELECTORS, _counts(cache), strict=True):
        assert kept == matching_pods("default", from_label_selector(sel), snap.node_infos)
    assert [i.name for i in snap.node_infos] == cache.matrix.names
    m = cache.matrix
    fresh = TermCounts(max(m.n, 1))
    for row, info in enumerate(snap.node_infos):
        fresh.recount(row, info)
    assert {k: g.sums[: m.n].tolist() for k, g in m.term_counts.groups.items()} == {
        k: g.sums[: m.n].tolist() for k, g in fresh.groups.items()
    }
    assert all(not g.sums[m.n :].any() for g in m.term_counts.groups.values())
    assert all(snap.get(i.name) is i for i in snap.node_infos)
    assert len(snap.by_name) == len(snap.node_infos)
    with_affinity = {i.name for i in snap.node_infos if i.pods_with_affinity()}
    with_anti = {i.name for i in snap.node_infos if i.pods_with_required_anti_affinity()}
    assert {i.name for i in snap.have_pods_with_affinity()} == with_affinity
    assert {i.name for i in snap.have_pods_with_required_anti_affinity()} == with_anti
    images: Counter[str] = Counter()
    for info in snap.node_infos:
        images.update(set(node_images(info)))
    assert snap.image_num_nodes == images
    for info in cache.nodes.values():  # the sums equal the pods' own, freshly parsed
        fresh = NodeInfo()
        for p in info.pods.values():
            fresh.add_pod(PodInfo.of(p.pod))
        assert {k: v for k, v in info.requested.items() if v} == {
            k: v for k, v in fresh.requested.items() if v
        }
        assert all(cache.pods[key].info is p for key, p in info.pods.items())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_st, max_size=25))
def test_incremental_snapshot_equals_a_rebuilt_one(
    ops: list[tuple[str, int, int, Any, list[str]]],
) -> None:
    cache = Cache()
    _counts(cache)  # the selector columns exist from the start, so they are kept, not refilled
    for op, n, p, affinity, images in ops:
        name = f"n{n}"
        pod_name = f"p{p}"
        spec = {"affinity": affinity} if affinity else None
        body = pod(pod_name, node_name=name, spec=spec, cpu=f"{p + 1}00m")
        if op == "node":
            cache.add_node(node(name, images=[([i], 30_000_000) for i in images]))
        elif op == "drop-node":
            cache.remove_node(node(name))
        elif op == "pod":
            cache.add_pod(body)
        elif op == "assume":
            if not cache.is_assumed(body) and f"default/{pod_name}" not in cache.pods:
                cache.assume_pod(body)
        elif op == "forget":
            cache.forget_pod(body)
        elif op == "relabel":  # the informer's update of a pod: only the labels differ
            body["metadata"]["labels"] = {"v": str(len(ops))}
            cache.update_pod(body)
        elif op == "terminate":
            if f"default/{pod_name}" in cache.pods:
                body = dict(cache.pods[f"default/{pod_name}"].info.pod)
                body["metadata"] = {**body["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}
                cache.update_pod(body)
        else:
            cache.remove_pod(body)
        _check(cache)
