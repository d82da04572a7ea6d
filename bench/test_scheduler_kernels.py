"""The scheduler's Filter and Score work for one pod over 5,000 nodes: Cython, numpy, per-node.

One snapshot of 5,000 nodes (SchedulingBasic-like: 4 CPUs, 32 Gi, 110 pods, zone labels, a
few taints, some pods on them); each benchmark runs the vectorised Filter plugins
(NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit) and
the vectorised Score plugins (NodeResourcesFit LeastAllocated, BalancedAllocation,
TaintToleration, NodeAffinity) for one pod over every node, with the compiled kernels, with
the numpy ones, and with the per-node Python references. `test_kernels_only` times the kernels
alone on the same snapshot (their arguments prepared once, as each plugin would for this pod):
the difference to `test_vectorised` is the plugins' Python glue (request vectors, lookup
tables, slicing the matrix). `vectorised` runs inside `cycle_pod(POD)`, as the scheduler's
cycle does, so the pod is parsed once. Run with

    .venv/bin/pytest bench/test_scheduler_kernels.py --benchmark-only -q
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from kube.scheduler import kernels
from kube.scheduler.cache import Cache
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.nodeinfo import cycle_pod
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.plugins import (
    balancedallocation,
    nodeaffinity,
    nodeports,
    noderesourcesfit,
    tainttoleration,
)
from kube.scheduler.plugins.balancedallocation import BalancedAllocation
from kube.scheduler.plugins.nodeaffinity import NodeAffinity
from kube.scheduler.plugins.nodename import NodeName
from kube.scheduler.plugins.nodeports import NodePorts
from kube.scheduler.plugins.noderesourcesfit import NodeResourcesFit
from kube.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kube.scheduler.plugins.tainttoleration import TaintToleration

NODES = 5000

FILTERS = [
    NodeUnschedulable(),
    NodeName(),
    TaintToleration(),
    NodeAffinity(),
    NodePorts(),
    NodeResourcesFit(),
]
SCORERS = [NodeResourcesFit(), BalancedAllocation(), TaintToleration(), NodeAffinity()]


def cluster(count: int = NODES, seed: int = 1) -> Snapshot:
    rng = random.Random(seed)
    cache = Cache()
    for i in range(count):
        taints = (
            [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}] if i % 50 == 0 else []
        )
        cache.add_node(
            {
                "metadata": {
                    "name": f"node-{i}",
                    "labels": {"kubernetes.io/hostname": f"node-{i}", "zone": f"zone-{i % 3}"},
                },
                "spec": {"taints": taints},
                "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}},
            }
        )
        for j in range(rng.randrange(3)):
            cache.add_pod(
                {
                    "metadata": {"name": f"init-{i}-{j}", "namespace": "default"},
                    "spec": {
                        "nodeName": f"node-{i}",
                        "containers": [
                            {
                                "name": "c",
                                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
                            }
                        ],
                    },
                }
            )
    return cache.snapshot()


POD = {
    "metadata": {"name": "measured", "namespace": "default"},
    "spec": {
        "containers": [
            {"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}
        ],
        "nodeSelector": {"zone": "zone-1"},
    },
}


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return cluster()


MODULES = (tainttoleration, nodeaffinity, noderesourcesfit, balancedallocation, nodeports)


@pytest.fixture(params=["native", "numpy"])
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Points the plugin modules' kernel handles at one implementation for the benchmark."""
    saved: list[tuple[Any, str, Callable[..., Any]]] = []
    for module in MODULES:
        for attr in dir(module):
            if attr.startswith("_") and attr.lstrip("_") in {k.name for k in kernels.KERNELS}:
                name = attr.lstrip("_")
                saved.append((module, attr, getattr(module, attr)))
                if request.param == "numpy":
                    setattr(module, attr, kernels.numpy_version(name))
                else:
                    native = pytest.importorskip(kernels.NATIVE_MODULE)
                    setattr(module, attr, getattr(native, name))
    yield request.param
    for module, attr, fn in saved:
        setattr(module, attr, fn)


def vectorised(snapshot: Snapshot) -> np.ndarray:
    with cycle_pod(POD):
        return _vectorised(snapshot)


def _vectorised(snapshot: Snapshot) -> np.ndarray:
    state = CycleState()
    alive = np.ones(len(snapshot), np.bool_)
    for plugin in FILTERS:
        if hasattr(plugin, "pre_filter"):
            plugin.pre_filter(state, POD, snapshot)
        alive &= plugin.filter_nodes(state, POD, snapshot).codes == 0
    rows = np.flatnonzero(alive)
    total = np.zeros(len(rows), np.int64)
    for plugin in SCORERS:
        total += plugin.score_nodes(state, POD, snapshot, rows)
    return total


def per_node(snapshot: Snapshot) -> list[int]:
    state = CycleState()
    feasible = []
    for info in snapshot.node_infos:
        if all(p.filter(state, POD, info).is_success() for p in FILTERS):
            feasible.append(info)
    return [sum(p.score(state, POD, info)[0] for p in SCORERS) for info in feasible]


@pytest.mark.benchmark(group="scheduler filter+score, 1 pod x 5000 nodes")
def test_vectorised(benchmark: Any, snapshot: Snapshot, implementation: str) -> None:
    result = benchmark(vectorised, snapshot)
    assert result.tolist() == per_node(snapshot)


@pytest.mark.benchmark(group="scheduler filter+score, 1 pod x 5000 nodes")
def test_per_node_reference(benchmark: Any, snapshot: Snapshot) -> None:
    benchmark.pedantic(per_node, args=(snapshot,), rounds=3, iterations=1)


def kernel_calls(snapshot: Snapshot, impl: Callable[[str], Callable[..., Any]]) -> list[Any]:
    """The kernel calls `vectorised` makes for POD, with their arguments built once."""
    m = snapshot.matrix
    n = m.n
    alloc, req, nz = m.allocatable[:n], m.requested[:n], m.non_zero_requested[:n]
    request = np.zeros(alloc.shape[1], np.int64)
    request[1], request[2] = 100, 500 * 1024 * 1024
    cols = np.array([1, 2], np.int64)
    tolerated = np.zeros(len(m.taints), np.bool_)
    zone = m.label_keys.get("zone")
    ids = np.array([m.label_value_id("zone", "zone-1")], np.int32)
    column = np.ascontiguousarray(m.labels[:n, zone])
    lookup = np.zeros(1, np.bool_)
    rows = np.flatnonzero(column == ids[0])
    alloc_r, req_r, nz_r, taints_r = alloc[rows], req[rows], nz[rows], m.taint_ids[rows]
    weights = np.ones(2, np.int64)
    return [
        (impl("fit_filter"), (alloc, req, m.pod_count[:n], request, cols)),
        (impl("taint_filter"), (m.taint_ids[:n], tolerated)),
        (impl("label_requirement"), (column, "In", ids, lookup)),
        (impl("ports_filter"), (m.port_counts[:n], np.zeros(0, np.int64))),
        (impl("least_allocated"), (alloc_r, nz_r, request, cols, weights)),
        (impl("balanced_allocation"), (alloc_r, req_r, request, cols)),
        (impl("count_untolerated"), (taints_r, tolerated)),
    ]


@pytest.mark.benchmark(group="scheduler kernels only, 1 pod x 5000 nodes")
@pytest.mark.parametrize("implementation_name", ["native", "numpy"])
def test_kernels_only(benchmark: Any, snapshot: Snapshot, implementation_name: str) -> None:
    if implementation_name == "native":
        native = pytest.importorskip(kernels.NATIVE_MODULE)
        calls = kernel_calls(snapshot, lambda name: getattr(native, name))
    else:
        calls = kernel_calls(snapshot, kernels.numpy_version)

    def run() -> None:
        for fn, args in calls:
            fn(*args)

    benchmark(run)
    numpy_calls = kernel_calls(snapshot, kernels.numpy_version)
    for (fn, args), (ref, _) in zip(calls, numpy_calls, strict=True):
        assert np.array_equal(fn(*args), ref(*args))
