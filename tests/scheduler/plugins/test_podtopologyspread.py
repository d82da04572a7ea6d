"""PodTopologySpread on upstream's cases (filtering_test.go): skew, missing labels, minDomains."""

from __future__ import annotations

from typing import Any

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.plugins.podtopologyspread import (
    ERR_REASON_CONSTRAINTS,
    ERR_REASON_NODE_LABEL,
    PodTopologySpread,
)
from tests.scheduler.builders import node, pod, snapshot_of


def spread(key: str, max_skew: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"foo": ""}},
        **extra,
    }


def verdicts(
    constraints: list[dict[str, Any]], nodes: list[dict], existing: list[tuple[str, str]]
) -> dict[str, list[str]]:
    pods = [pod(f"e{i}", labels={"foo": ""}, node_name=n) for i, (n, _) in enumerate(existing)]
    snapshot = snapshot_of(nodes, pods)
    incoming = pod("p", labels={"foo": ""}, spec={"topologySpreadConstraints": constraints})
    plugin = PodTopologySpread()
    state = CycleState()
    assert plugin.pre_filter(state, incoming, snapshot).is_success()
    return {n.name: plugin.filter(state, incoming, n).reasons for n in snapshot.node_infos}


ZONES = [
    node("node-a", labels={"zone": "zone1"}),
    node("node-b", labels={"zone": "zone1"}),
    node("node-x", labels={"zone": "zone2"}),
    node("node-y", labels={"zone": "zone2"}),
]


def test_spread_over_zones_three_one() -> None:
    # zone1 has 3 matching pods, zone2 has 1: only zone2 keeps the skew within 1.
    existing = [("node-a", ""), ("node-a", ""), ("node-b", ""), ("node-x", "")]
    got = verdicts([spread("zone")], ZONES, existing)
    assert got == {
        "node-a": [ERR_REASON_CONSTRAINTS],
        "node-b": [ERR_REASON_CONSTRAINTS],
        "node-x": [],
        "node-y": [],
    }


def test_spread_over_hosts() -> None:
    existing = [("node-a", ""), ("node-b", ""), ("node-x", "")]
    got = verdicts([spread("kubernetes.io/hostname")], ZONES, existing)
    assert {n for n, r in got.items() if not r} == {"node-y"}


def test_node_without_the_topology_key_is_unresolvable() -> None:
    nodes = [*ZONES, node("node-z")]
    got = verdicts([spread("zone")], nodes, [])
    assert got["node-z"] == [ERR_REASON_NODE_LABEL]


def test_min_domains_treats_the_global_minimum_as_zero() -> None:
    # Two zones with one pod each; minDomains 3 means the minimum counts as 0: skew 2 > 1.
    existing = [("node-a", ""), ("node-x", "")]
    got = verdicts([spread("zone", minDomains=3)], ZONES, existing)
    assert all(r == [ERR_REASON_CONSTRAINTS] for r in got.values())
    assert all(not r for r in verdicts([spread("zone")], ZONES, existing).values())


def test_node_affinity_policy_honor_ignores_excluded_domains() -> None:
    existing = [("node-a", ""), ("node-a", "")]
    constraint = spread("zone")
    snapshot = snapshot_of(
        ZONES, [pod(f"e{i}", labels={"foo": ""}, node_name=n) for i, (n, _) in enumerate(existing)]
    )
    incoming = pod(
        "p",
        labels={"foo": ""},
        spec={"topologySpreadConstraints": [constraint], "nodeSelector": {"zone": "zone1"}},
    )
    plugin = PodTopologySpread()
    state = CycleState()
    plugin.pre_filter(state, incoming, snapshot)
    # Only zone1 is eligible: its own minimum is 2, so placing a third pod there is fine.
    assert plugin.filter(state, incoming, snapshot.node_infos[0]).is_success()
