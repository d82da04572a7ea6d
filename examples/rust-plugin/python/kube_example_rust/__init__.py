"""MostPods: a vectorised Score whose kernel is Rust (PyO3): pack pods onto busy nodes.

Each node to score gets 100 * its pod count / the highest pod count among them, so pods
gather on the nodes that already run the most pods (bin packing by count), where the default
LeastAllocated and BalancedAllocation spread them. It reads one matrix column, `pod_count`,
which the cache keeps current; `score` is the per-node reference (same integer arithmetic).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status
from kube_example_rust._native import score_most_pods

STATE_KEY = "PreScoreMostPods"


class MostPods(Plugin):
    NAME = "MostPods"

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        counts = snapshot.matrix.pod_count[: len(snapshot)]
        return np.asarray(score_most_pods(counts, np.ascontiguousarray(rows, np.int64)), np.int64)

    def pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        # Only the per-node reference needs the most pods among the nodes to score.
        state.write(STATE_KEY, max((len(n.pods) for n in nodes), default=0))
        return Status()

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        most: int = state.get(STATE_KEY, 0)
        return (len(node_info.pods) * 100 // most if most > 0 else 0), Status()
