"""Snapshot: the nodes one scheduling cycle sees, as NodeInfos and as the node matrix.

Upstream copies changed NodeInfos into a snapshot at the start of each cycle because its
cache is written from other goroutines meanwhile. Here everything runs on one event loop and
the cycle does not await between taking the snapshot and assuming the pod, so the snapshot is
a view of the cache fixed for the cycle: `node_infos` in matrix row order (row i of the
matrix is `node_infos[i]`), and the matrix itself for the vectorised kernels. Preemption dry
runs work on clones of single NodeInfos, never on the snapshot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.matrix import NodeMatrix


@dataclass
class Snapshot:
    matrix: NodeMatrix
    node_infos: list[NodeInfo]
    by_name: dict[str, NodeInfo] = field(default_factory=dict)
    # Kept current by the cache (upstream's havePodsWithAffinityNodeInfoList, ...,
    # imageStates' numNodes), so a cycle need not scan every node; None: scan.
    with_affinity: dict[str, NodeInfo] | None = None
    with_required_anti_affinity: dict[str, NodeInfo] | None = None
    image_num_nodes: Counter[str] | None = None

    def __post_init__(self) -> None:
        if not self.by_name:
            self.by_name = {info.name: info for info in self.node_infos}

    def __len__(self) -> int:
        return len(self.node_infos)

    def get(self, name: str) -> NodeInfo | None:
        return self.by_name.get(name)

    def have_pods_with_affinity(self) -> list[NodeInfo]:
        if self.with_affinity is not None:
            return list(self.with_affinity.values())
        return [n for n in self.node_infos if n.pods_with_affinity()]

    def have_pods_with_required_anti_affinity(self) -> list[NodeInfo]:
        if self.with_required_anti_affinity is not None:
            return list(self.with_required_anti_affinity.values())
        return [n for n in self.node_infos if n.pods_with_required_anti_affinity()]

    @classmethod
    def of(cls, node_infos: list[NodeInfo]) -> Snapshot:
        """A snapshot of loose NodeInfos (tests, simulations): builds its own matrix."""
        matrix = NodeMatrix()
        for info in node_infos:
            matrix.update(info)
        ordered = [next(i for i in node_infos if i.name == name) for name in matrix.names]
        return cls(matrix, ordered)
