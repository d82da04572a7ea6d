"""NodeResourcesFit: the pod's requests must fit in what the node has left; scoring by strategy.

Filter (upstream's fitsRequest): one more pod must fit `pods` ("Too many pods"); then each
resource the pod requests (cpu, memory, ephemeral-storage, extended and hugepages resources
not in `ignoredResources` / `ignoredResourceGroups`) must not exceed allocatable minus what
the node's pods request ("Insufficient cpu", "Insufficient example.com/gpu"). Every shortfall
is a reason, so one node can count under several. Rejection is Unschedulable: preemption may
free the room. `fits_request` is the pure check, returning `InsufficientResource`s that other
plugins (preemption) reuse.

Score (`scoringStrategy.type`): LeastAllocated (default; prefer emptier nodes), MostAllocated
(bin packing) or RequestedToCapacityRatio (a piecewise-linear `shape` of utilisation to
score), each a weighted mean over `scoringStrategy.resources` (cpu and memory, weight 1, by
default), counting CPU and memory with the non-zero defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.scheduler import kernels
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import (
    ASSIGNED_POD,
    NODE,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
)
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from kube.scheduler.framework.resources import (
    CPU,
    EPHEMERAL_STORAGE,
    MEMORY,
    PODS,
    Resources,
    is_extended,
)
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unschedulable
from kube.scheduler.plugins.helpers import MAX_NODE_SCORE, state_key

NAME = "NodeResourcesFit"
LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
MAX_CUSTOM_PRIORITY_SCORE = 10
MAX_UTILIZATION = 100

_fit_filter = kernels.get("fit_filter")
_least_allocated = kernels.get("least_allocated")
_most_allocated = kernels.get("most_allocated")


@dataclass(frozen=True)
class InsufficientResource:
    resource: str
    reason: str
    requested: int
    used: int
    capacity: int


def insufficient_reason(resource: str) -> str:
    return "Too many pods" if resource == PODS else f"Insufficient {resource}"


def checked_resources(
    requests: Resources, ignored: frozenset[str], ignored_groups: frozenset[str]
) -> list[str]:
    """The requested resources the filter checks, in upstream's order (scalars sorted)."""
    out = [r for r in (CPU, MEMORY, EPHEMERAL_STORAGE) if requests.get(r, 0) > 0]
    for name in sorted(requests):
        if name in (CPU, MEMORY, EPHEMERAL_STORAGE, PODS) or requests[name] <= 0:
            continue
        if is_extended(name) and (name in ignored or name.split("/")[0] in ignored_groups):
            continue
        out.append(name)
    return out


def fits_request(
    requests: Resources,
    node_info: NodeInfo,
    ignored: frozenset[str] = frozenset(),
    ignored_groups: frozenset[str] = frozenset(),
) -> list[InsufficientResource]:
    """upstream fitsRequest: every resource the node lacks for the pod."""
    out: list[InsufficientResource] = []
    allowed = node_info.allocatable.get(PODS, 0)
    if len(node_info.pods) + 1 > allowed:
        out.append(InsufficientResource(PODS, "Too many pods", 1, len(node_info.pods), allowed))
    for name in checked_resources(requests, ignored, ignored_groups):
        free = node_info.allocatable.get(name, 0) - node_info.requested.get(name, 0)
        if requests[name] > free:
            out.append(
                InsufficientResource(
                    name,
                    insufficient_reason(name),
                    requests[name],
                    node_info.requested.get(name, 0),
                    node_info.allocatable.get(name, 0),
                )
            )
    return out


def _go_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def broken_linear(shape: list[tuple[int, int]], p: int) -> int:
    """upstream BuildBrokenLinearFunction (Go's truncating integer division)."""
    for i, (utilization, score) in enumerate(shape):
        if p <= utilization:
            if i == 0:
                return shape[0][1]
            u0, s0 = shape[i - 1]
            return s0 + _go_div((score - s0) * (p - u0), utilization - u0)
    return shape[-1][1]


@dataclass
class _PreFilterState:
    requests: Resources

    def clone(self) -> _PreFilterState:
        return self


class NodeResourcesFit(Plugin):
    NAME = NAME

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.ignored = frozenset(self.args.get("ignoredResources") or [])
        self.ignored_groups = frozenset(self.args.get("ignoredResourceGroups") or [])
        strategy = self.args.get("scoringStrategy") or {}
        self.strategy = strategy.get("type") or LEAST_ALLOCATED
        if self.strategy not in (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO):
            raise ValueError(f"scoringStrategy.type {self.strategy!r} is not supported")
        self.resources = [
            (str(r["name"]), int(r.get("weight") or 1))
            for r in strategy.get("resources") or [{"name": CPU}, {"name": MEMORY}]
        ]
        shape = (strategy.get("requestedToCapacityRatio") or {}).get("shape") or [
            {"utilization": 0, "score": 10},
            {"utilization": 100, "score": 0},
        ]
        scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
        self.shape = [(int(p["utilization"]), int(p["score"]) * scale) for p in shape]

    # -- filter ----------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        state.write(state_key("PreFilter", NAME), _PreFilterState(PodInfo.of(pod).requests))
        return Status()

    def _requests(self, state: CycleState, pod: Object) -> Resources:
        found = state.get(state_key("PreFilter", NAME))
        return found.requests if found is not None else PodInfo.of(pod).requests

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        missing = fits_request(
            self._requests(state, pod), node_info, self.ignored, self.ignored_groups
        )
        if not missing:
            return Status()
        return unschedulable(*(m.reason for m in missing))

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        m = snapshot.matrix
        requests = self._requests(state, pod)
        names = checked_resources(requests, self.ignored, self.ignored_groups)
        cols = np.array([m.resource_column(name) for name in names], np.int64)
        request = np.zeros(m.allocatable.shape[1], np.int64)
        for name, col in zip(names, cols.tolist(), strict=True):
            request[col] = requests[name]
        if len(cols) and int(cols.max()) > 62:
            raise ValueError("more than 62 resource columns: reason codes would overflow")
        codes = _fit_filter(
            m.allocatable[: m.n], m.requested[: m.n], m.pod_count[: m.n], request, cols
        )
        order = [0, *cols.tolist()]

        def status_of(code: int) -> Status:
            return unschedulable(
                *(insufficient_reason(m.resources.values[c]) for c in order if code >> c & 1)
            )

        return NodeMask(codes, status_of)

    # -- score -----------------------------------------------------------------------------

    def _score_request(self, pod: Object, name: str) -> int:
        info = PodInfo.of(pod)
        return info.non_zero.get(name, 0) if name in (CPU, MEMORY) else info.requests.get(name, 0)

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        total = weight_sum = 0
        for name, weight in self.resources:
            request = self._score_request(pod, name)
            if request == 0 and name not in (CPU, MEMORY, EPHEMERAL_STORAGE):
                continue
            alloc = node_info.allocatable.get(name, 0)
            if alloc == 0:
                continue
            used = node_info.non_zero_requested.get(name, 0) + request
            if self.strategy == LEAST_ALLOCATED:
                score = 0 if used > alloc else (alloc - used) * MAX_NODE_SCORE // alloc
            elif self.strategy == MOST_ALLOCATED:
                score = min(used, alloc) * MAX_NODE_SCORE // alloc
            else:
                p = MAX_UTILIZATION if used > alloc else used * MAX_UTILIZATION // alloc
                score = broken_linear(self.shape, p)
                if score <= 0:
                    continue
            total += score * weight
            weight_sum += weight
        if weight_sum == 0:
            return 0, Status()
        if self.strategy == REQUESTED_TO_CAPACITY_RATIO:
            return int(total / weight_sum + 0.5), Status()
        return total // weight_sum, Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        if self.strategy == REQUESTED_TO_CAPACITY_RATIO:
            infos = snapshot.node_infos
            return np.array([self.score(state, pod, infos[r])[0] for r in rows.tolist()], np.int64)
        m = snapshot.matrix
        cols: list[int] = []
        weights: list[int] = []
        request = np.zeros(m.allocatable.shape[1], np.int64)
        for name, weight in self.resources:
            value = self._score_request(pod, name)
            col = m.resources.get(name)
            if col < 0 or (value == 0 and name not in (CPU, MEMORY, EPHEMERAL_STORAGE)):
                continue
            cols.append(col)
            weights.append(weight)
            request[col] = value
        kernel = _least_allocated if self.strategy == LEAST_ALLOCATED else _most_allocated
        result: npt.NDArray[np.int64] = kernel(
            m.allocatable,
            m.non_zero_requested,
            request,
            np.array(cols, np.int64),
            np.array(weights, np.int64),
            rows,
        )
        return result

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(ASSIGNED_POD, ActionType.DELETE)),
            ClusterEventWithHint(
                ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE)
            ),
        ]
