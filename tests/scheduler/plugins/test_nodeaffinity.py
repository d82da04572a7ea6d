"""NodeAffinity on upstream's cases (node_affinity_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.plugins.nodeaffinity import ERR_REASON_POD, NodeAffinity
from tests.scheduler.builders import node, pod, snapshot_of


def fits(spec: dict[str, Any], labels: dict[str, str], args: dict[str, Any] | None = None) -> bool:
    n = snapshot_of([node("node1", labels=labels)]).node_infos[0]
    status = NodeAffinity(args).filter(CycleState(), pod("p", spec=spec), n)
    assert status.is_success() or status.reasons == [ERR_REASON_POD]
    return status.is_success()


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
            }
        }
    }


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


@pytest.mark.parametrize(
    ("spec", "labels", "expected"),
    [
        ({}, {"foo": "bar"}, True),
        ({"nodeSelector": {"foo": "bar"}}, {"foo": "bar"}, True),
        ({"nodeSelector": {"foo": "bar"}}, {"foo": "baz"}, False),
        (required(expr("foo", "In", "bar", "value2")), {"foo": "bar"}, True),
        (required(expr("kernel-version", "Gt", "0204")), {"kernel-version": "0206"}, True),
        (required(expr("kernel-version", "Gt", "0204")), {"kernel-version": "0202"}, False),
        (required(expr("mem-type", "NotIn", "DDR", "DDR2")), {"mem-type": "DDR3"}, True),
        (required(expr("GPU", "Exists")), {"GPU": "NVIDIA-GRID-K1"}, True),
        (required(expr("foo", "DoesNotExist")), {"foo": "bar"}, False),
        (
            required(expr("foo", "In", "value1"), expr("diffkey", "In", "wrong")),
            {"foo": "value1"},
            True,
        ),
        (required({"matchExpressions": []}), {"foo": "bar"}, False),
        (required(), {"foo": "bar"}, False),
        (
            required(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node1"]}]}
            ),
            {},
            True,
        ),
        (
            required(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node2"]}]}
            ),
            {},
            False,
        ),
        ({**required(expr("foo", "Exists")), "nodeSelector": {"foo": "x"}}, {"foo": "bar"}, False),
    ],
)
def test_filter(spec: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert fits(spec, labels) is expected


def test_added_affinity_from_the_profile() -> None:
    args = {
        "addedAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [expr("zone", "In", "foo")]
            }
        }
    }
    assert fits({}, {"zone": "foo"}, args)
    assert not fits({}, {"zone": "bar"}, args)


def test_preferred_terms_score_by_weight_normalised() -> None:
    spec = {
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 2, "preference": expr("foo", "In", "bar")},
                    {"weight": 4, "preference": expr("key", "In", "value")},
                    {"weight": 5, "preference": expr("az", "In", "az1")},
                ]
            }
        }
    }
    nodes = [
        node("n1", labels={"foo": "bar"}),
        node("n2", labels={"foo": "bar", "key": "value", "az": "az1"}),
        node("n3", labels={"key": "value"}),
        node("n4"),
    ]
    plugin = NodeAffinity()
    p = pod("p", spec=spec)
    raw = [plugin.score(CycleState(), p, n)[0] for n in snapshot_of(nodes).node_infos]
    assert raw == [2, 11, 4, 0]
    plugin.normalize_scores(CycleState(), p, raw)
    assert raw == [18, 100, 36, 0]
