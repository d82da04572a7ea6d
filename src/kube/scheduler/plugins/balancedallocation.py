"""NodeResourcesBalancedAllocation: prefer nodes whose resources would be used evenly.

Score: 100 * (1 - the standard deviation of requested/allocatable over the configured
resources, cpu and memory by default), counting the node's and the pod's plain requests
(upstream sets useRequested for this plugin), each fraction capped at 1; a resource the node
has none of, or an extended resource the pod does not ask for, is left out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.scheduler import kernels
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from kube.scheduler.framework.resources import CPU, EPHEMERAL_STORAGE, MEMORY
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status
from kube.scheduler.plugins.helpers import MAX_NODE_SCORE

NAME = "NodeResourcesBalancedAllocation"

_balanced = kernels.get("balanced_allocation")


class BalancedAllocation(Plugin):
    NAME = NAME

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.resources = [str(r["name"]) for r in self.args.get("resources") or []] or [
            CPU,
            MEMORY,
        ]

    def _skipped(self, name: str, request: int) -> bool:
        return request == 0 and name not in (CPU, MEMORY, EPHEMERAL_STORAGE)

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        requests = PodInfo.of(pod).requests
        fractions: list[float] = []
        total = 0.0
        for name in self.resources:
            request = requests.get(name, 0)
            alloc = node_info.allocatable.get(name, 0)
            if self._skipped(name, request) or alloc == 0:
                continue
            fraction = min(float(node_info.requested.get(name, 0) + request) / float(alloc), 1.0)
            total += fraction
            fractions.append(fraction)
        std = 0.0
        if len(fractions) == 2:
            std = abs((fractions[0] - fractions[1]) / 2)
        elif len(fractions) > 2:
            mean = total / len(fractions)
            squares = 0.0
            for fraction in fractions:
                squares = squares + (fraction - mean) * (fraction - mean)
            std = math.sqrt(squares / len(fractions))
        return int((1 - std) * MAX_NODE_SCORE), Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        m = snapshot.matrix
        requests = PodInfo.of(pod).requests
        request = np.zeros(m.allocatable.shape[1], np.int64)
        cols: list[int] = []
        for name in self.resources:
            col = m.resources.get(name)
            if col < 0 or self._skipped(name, requests.get(name, 0)):
                continue
            cols.append(col)
            request[col] = requests.get(name, 0)
        result: npt.NDArray[np.int64] = _balanced(
            m.allocatable, m.requested, request, np.array(cols, np.int64), rows
        )
        return result
