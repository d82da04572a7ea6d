"""NodeResourcesFit on upstream's cases (fit_test.go): filter reasons and the three strategies."""

from __future__ import annotations

import pytest

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from kube.scheduler.framework.status import Code
from kube.scheduler.plugins.noderesourcesfit import (
    InsufficientResource,
    NodeResourcesFit,
    fits_request,
)
from tests.scheduler.builders import node, pod, snapshot_of


def info(cpu: str, memory: str, pods: str = "32", *, used: list[tuple[str, str]] = ()) -> NodeInfo:  # type: ignore[assignment]
    snapshot = snapshot_of(
        [node("n", cpu=cpu, memory=memory, pods=pods, extra={"example.com/foo": "5"})],
        [pod(f"u{i}", cpu=c, memory=m, node_name="n") for i, (c, m) in enumerate(used)],
    )
    return snapshot.node_infos[0]


def reasons(p: dict, n: NodeInfo, args: dict | None = None) -> list[str]:
    plugin = NodeResourcesFit(args)
    state = CycleState()
    plugin.pre_filter(state, p, snapshot_of([]))
    status = plugin.filter(state, p, n)
    assert status.code in (Code.SUCCESS, Code.UNSCHEDULABLE)
    return status.reasons


def test_no_resources_requested_always_fits() -> None:
    assert reasons(pod("p"), info("10m", "20", used=[("10m", "20")])) == []


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        ("1m", "1", ["Insufficient cpu", "Insufficient memory"]),
        ("1m", None, ["Insufficient cpu"]),
        (None, "1", ["Insufficient memory"]),
    ],
)
def test_too_many_resources_fails(cpu: str | None, memory: str | None, expected: list[str]) -> None:
    assert (
        reasons(pod("p", cpu=cpu, memory=memory), info("10m", "20", used=[("10m", "20")]))
        == expected
    )


def test_fits_exactly_what_is_left() -> None:
    assert reasons(pod("p", cpu="5m", memory="5"), info("10m", "20", used=[("5m", "15")])) == []
    assert reasons(pod("p", cpu="6m"), info("10m", "20", used=[("5m", "15")])) == [
        "Insufficient cpu"
    ]


def test_too_many_pods() -> None:
    n = info("10m", "20", pods="1", used=[("0m", "0")])
    assert reasons(pod("p"), n) == ["Too many pods"]
    assert reasons(pod("p", cpu="20m"), n) == ["Too many pods", "Insufficient cpu"]


def test_extended_resources_and_ignored_ones() -> None:
    n = info("10m", "20")
    assert reasons(pod("p", extra={"example.com/foo": "6"}), n) == ["Insufficient example.com/foo"]
    assert reasons(pod("p", extra={"example.com/foo": "5"}), n) == []
    assert reasons(pod("p", extra={"example.com/bar": "1"}), n) == ["Insufficient example.com/bar"]
    ignored = {"ignoredResources": ["example.com/bar"]}
    assert reasons(pod("p", extra={"example.com/bar": "1"}), n, ignored) == []
    groups = {"ignoredResourceGroups": ["example.com"]}
    assert reasons(pod("p", extra={"example.com/bar": "1"}), n, groups) == []


def test_init_containers_count_as_their_maximum() -> None:
    p = pod("p", cpu="1m")
    p["spec"]["initContainers"] = [
        {"name": "i", "image": "x", "resources": {"requests": {"cpu": "8m"}}}
    ]
    assert PodInfo.of(p).requests["cpu"] == 8
    assert reasons(p, info("10m", "20", used=[("5m", "0")])) == ["Insufficient cpu"]


def test_fits_request_returns_structured_reasons() -> None:
    n = info("10m", "20", used=[("8m", "0")])
    assert fits_request({"cpu": 5}, n) == [
        InsufficientResource("cpu", "Insufficient cpu", 5, 8, 10)
    ]


def score(args: dict | None, p: dict, n: NodeInfo) -> int:
    value, status = NodeResourcesFit(args).score(CycleState(), p, n)
    assert status.is_success()
    return value


def test_least_allocated_prefers_the_emptier_node() -> None:
    # upstream: node 4000m/10000, pod 3000m/5000: ((1000*100/4000) + (5000*100/10000)) / 2
    n = info("4000m", "10000")
    assert score(None, pod("p", cpu="3000m", memory="5000"), n) == (25 + 50) // 2
    # Requests of zero count as the non-zero defaults (100m, 200Mi).
    big = info("4000m", str(4 * 1024**3))
    assert score(None, pod("p"), big) == ((3900 * 100 // 4000) + (3896 * 100 // 4096)) // 2


def test_most_allocated_prefers_the_fuller_node() -> None:
    args = {"scoringStrategy": {"type": "MostAllocated"}}
    n = info("4000m", "10000", used=[("1000m", "2000")])
    assert score(args, pod("p", cpu="1000m", memory="3000"), n) == (50 + 50) // 2


def test_requested_to_capacity_ratio_follows_the_shape() -> None:
    args = {
        "scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 1}],
            "requestedToCapacityRatio": {
                "shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]
            },
        }
    }
    n = info("4000m", "10000", used=[("1000m", "0")])
    assert score(args, pod("p", cpu="1000m"), n) == 50
