"""InterPodAffinity on upstream's cases: affinity, anti-affinity, existing pods' anti-affinity."""

from __future__ import annotations

from typing import Any

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.status import Code
from kube.scheduler.plugins.interpodaffinity import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
)
from tests.scheduler.builders import node, pod, snapshot_of


def term(key: str, **labels: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def affinity(kind: str, *terms: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}}


NODES = [
    node("n1", labels={"zone": "z1"}),
    node("n2", labels={"zone": "z1"}),
    node("n3", labels={"zone": "z2"}),
]


def run(
    incoming: dict[str, Any], existing: list[dict[str, Any]]
) -> dict[str, tuple[Code, list[str]]]:
    snapshot = snapshot_of(NODES, existing)
    plugin = InterPodAffinity()
    state = CycleState()
    status = plugin.pre_filter(state, incoming, snapshot)
    if status.is_skip():
        return {n.name: (Code.SUCCESS, []) for n in snapshot.node_infos}
    out = {}
    for n in snapshot.node_infos:
        s = plugin.filter(state, incoming, n)
        out[n.name] = (s.code, s.reasons)
    return out


def test_affinity_needs_a_matching_pod_in_the_zone() -> None:
    existing = [pod("db", labels={"app": "db"}, node_name="n1")]
    got = run(pod("web", spec=affinity("podAffinity", term("zone", app="db"))), existing)
    assert got["n1"][0] == got["n2"][0] == Code.SUCCESS
    assert got["n3"] == (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_AFFINITY])


def test_first_pod_of_a_group_may_match_itself() -> None:
    incoming = pod(
        "web", labels={"app": "web"}, spec=affinity("podAffinity", term("zone", app="web"))
    )
    assert all(code == Code.SUCCESS for code, _ in run(incoming, []).values())
    other = pod("web", labels={"app": "web"}, spec=affinity("podAffinity", term("zone", app="db")))
    assert all(r == [ERR_REASON_AFFINITY] for _, r in run(other, []).values())


def test_anti_affinity_avoids_the_zone_of_matching_pods() -> None:
    existing = [pod("db", labels={"app": "db"}, node_name="n1")]
    got = run(pod("web", spec=affinity("podAntiAffinity", term("zone", app="db"))), existing)
    assert got["n1"] == got["n2"] == (Code.UNSCHEDULABLE, [ERR_REASON_ANTI_AFFINITY])
    assert got["n3"][0] == Code.SUCCESS


def test_existing_pods_anti_affinity_is_respected() -> None:
    existing = [
        pod(
            "db",
            labels={"app": "db"},
            node_name="n3",
            spec=affinity("podAntiAffinity", term("zone", app="web")),
        )
    ]
    got = run(pod("web", labels={"app": "web"}), existing)
    assert got["n3"] == (Code.UNSCHEDULABLE, [ERR_REASON_EXISTING_ANTI_AFFINITY])
    assert got["n1"][0] == Code.SUCCESS


def test_other_namespaces_do_not_count_unless_selected() -> None:
    existing = [pod("db", namespace="other", labels={"app": "db"}, node_name="n1")]
    got = run(pod("web", spec=affinity("podAntiAffinity", term("zone", app="db"))), existing)
    assert all(code == Code.SUCCESS for code, _ in got.values())
    everywhere = {**term("zone", app="db"), "namespaceSelector": {}}
    got = run(pod("web", spec=affinity("podAntiAffinity", everywhere)), existing)
    assert got["n1"][0] == Code.UNSCHEDULABLE


def test_preferred_affinity_scores_the_zone() -> None:
    existing = [pod("db", labels={"app": "db"}, node_name="n3")]
    incoming = pod(
        "web",
        spec={
            "affinity": {
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 5, "podAffinityTerm": term("zone", app="db")}
                    ]
                }
            }
        },
    )
    snapshot = snapshot_of(NODES, existing)
    plugin = InterPodAffinity()
    state = CycleState()
    assert plugin.pre_score(state, incoming, snapshot.node_infos).is_success()
    scores = [plugin.score(state, incoming, n)[0] for n in snapshot.node_infos]
    assert scores == [0, 0, 5]
    plugin.normalize_scores(state, incoming, scores)
    assert scores == [0, 0, 100]
