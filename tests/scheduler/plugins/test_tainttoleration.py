"""TaintToleration on upstream's cases (taint_toleration_test.go)."""

from __future__ import annotations

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.status import Code
from kube.scheduler.plugins.tainttoleration import TaintToleration
from tests.scheduler.builders import node, pod, snapshot_of


def taint(key: str, value: str, effect: str) -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


def check(
    taints: list[dict[str, str]], tolerations: list[dict[str, str]]
) -> tuple[Code, list[str]]:
    n = snapshot_of([node("n", taints=taints)]).node_infos[0]
    status = TaintToleration().filter(CycleState(), pod("p", spec={"tolerations": tolerations}), n)
    return status.code, status.reasons


def test_untolerated_taint_is_unresolvable_with_upstream_message() -> None:
    assert check([taint("dedicated", "user1", "NoSchedule")], []) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        ["node(s) had untolerated taint {dedicated: user1}"],
    )


def test_matching_toleration_admits() -> None:
    tol = {"key": "dedicated", "value": "user1", "effect": "NoSchedule"}
    assert check([taint("dedicated", "user1", "NoSchedule")], [tol]) == (Code.SUCCESS, [])


def test_value_mismatch_rejects_and_exists_admits() -> None:
    equal = {"key": "foo", "operator": "Equal", "value": "bar", "effect": "NoSchedule"}
    assert (
        check([taint("foo", "blah", "NoSchedule")], [equal])[0]
        == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    )
    exists = {"key": "foo", "operator": "Exists", "effect": "NoSchedule"}
    assert check([taint("foo", "blah", "NoSchedule")], [exists])[0] == Code.SUCCESS


def test_prefer_no_schedule_never_filters() -> None:
    assert check([taint("foo", "bar", "PreferNoSchedule")], [])[0] == Code.SUCCESS


def test_first_untolerated_taint_is_reported() -> None:
    taints = [taint("a", "1", "NoSchedule"), taint("b", "2", "NoExecute")]
    tol = {"key": "a", "operator": "Exists"}
    assert check(taints, [tol])[1] == ["node(s) had untolerated taint {b: 2}"]


def test_score_counts_intolerable_prefer_no_schedule_taints_reversed() -> None:
    nodes = [
        node("n0"),
        node("n1", taints=[taint("a", "1", "PreferNoSchedule")]),
        node(
            "n2", taints=[taint("a", "1", "PreferNoSchedule"), taint("b", "1", "PreferNoSchedule")]
        ),
    ]
    snapshot = snapshot_of(nodes)
    plugin = TaintToleration()
    p = pod(
        "p",
        spec={"tolerations": [{"key": "b", "operator": "Exists", "effect": "PreferNoSchedule"}]},
    )
    raw = [plugin.score(CycleState(), p, n)[0] for n in snapshot.node_infos]
    assert raw == [0, 1, 1]
    plugin.normalize_scores(CycleState(), p, raw)
    assert raw == [100, 0, 0]
