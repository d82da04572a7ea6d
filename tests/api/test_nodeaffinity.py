"""nodeSelector and required node affinity, with upstream's matching rules."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api.nodeaffinity import pod_admits_node, requirement_matches

NODE = {"metadata": {"name": "n1", "labels": {"zone": "a", "gpu": "2", "disk": "ssd"}}}


def _pod(selector: dict[str, str] | None = None, terms: list[Any] | None = None) -> dict:
    spec: dict[str, Any] = {}
    if selector is not None:
        spec["nodeSelector"] = selector
    if terms is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    return {"spec": spec}


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        ("In", ["a", "b"], True),
        ("In", ["b"], False),
        ("NotIn", ["b"], True),
        ("NotIn", ["a"], False),
        ("Exists", [], True),
        ("DoesNotExist", [], False),
    ],
)
def test_label_operators(operator: str, values: list[str], expected: bool) -> None:
    req = {"key": "zone", "operator": operator, "values": values}
    assert requirement_matches(req, {"zone": "a"}) is expected


def test_gt_and_lt_compare_integers_and_refuse_non_integers() -> None:
    assert requirement_matches({"key": "gpu", "operator": "Gt", "values": ["1"]}, {"gpu": "2"})
    assert not requirement_matches({"key": "gpu", "operator": "Lt", "values": ["2"]}, {"gpu": "2"})
    assert not requirement_matches({"key": "gpu", "operator": "Gt", "values": ["x"]}, {"gpu": "2"})
    assert not requirement_matches({"key": "cpu", "operator": "Gt", "values": ["1"]}, {"gpu": "2"})


def test_node_selector_and_affinity_both_apply() -> None:
    assert pod_admits_node(_pod(), NODE)
    assert pod_admits_node(_pod({"zone": "a"}), NODE)
    assert not pod_admits_node(_pod({"zone": "b"}), NODE)
    ssd = [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
    hdd = [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}]
    assert pod_admits_node(_pod({"zone": "a"}, ssd), NODE)
    assert not pod_admits_node(_pod({"zone": "a"}, hdd), NODE)
    # Terms are ORed; an empty term list or an empty term matches nothing.
    assert pod_admits_node(_pod(terms=[*hdd, *ssd]), NODE)
    assert not pod_admits_node(_pod(terms=[]), NODE)
    assert not pod_admits_node(_pod(terms=[{}]), NODE)


def test_match_fields_supports_the_node_name() -> None:
    mine = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    other = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]
    unsupported = [{"matchFields": [{"key": "spec.podCIDR", "operator": "Exists"}]}]
    assert pod_admits_node(_pod(terms=mine), NODE)
    assert not pod_admits_node(_pod(terms=other), NODE)
    assert not pod_admits_node(_pod(terms=unsupported), NODE)
