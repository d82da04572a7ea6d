"""PackByLabel: a vectorised Score (Cython kernel) that packs a pod's group onto its nodes.

A pod labelled `example.kube.io/pack: blue` scores 100 on nodes labelled
`example.kube.io/pack=blue` and 0 elsewhere, so a group's pods go to the group's nodes while
they fit (a preference, never a Filter: the pod still lands elsewhere when they are full). A
pod without the label scores 0 everywhere and is not affected. Give it a weight above the
defaults' sum to dominate (`score: {enabled: [{name: PackByLabel, weight: 10}]}`).

`score_nodes` calls the Cython kernel over the matrix's label column; `score` is the per-node
reference. The key is configurable: `pluginConfig: [{name: PackByLabel, args: {key: ...}}]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status
from kube_example_pack._kernel import score_rows

KEY = "example.kube.io/pack"
HIT, MISS = 100, 0


class PackByLabel(Plugin):
    NAME = "PackByLabel"

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.key = str(self.args.get("key") or KEY)

    def group(self, pod: Object) -> str | None:
        value = ((pod.get("metadata") or {}).get("labels") or {}).get(self.key)
        return str(value) if value else None

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        out = np.full(len(rows), MISS, np.int64)
        group = self.group(pod)
        matrix = snapshot.matrix
        col = matrix.label_keys.get(self.key)
        value = matrix.label_value_id(self.key, group) if group is not None else -1
        if col < 0 or value < 0:  # nobody carries the key or this group: all miss
            return out
        rows = np.ascontiguousarray(rows, np.int64)
        score_rows(matrix.labels, col, value, rows, out, HIT, MISS)
        return out

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        group = self.group(pod)
        hit = group is not None and node_info.labels.get(self.key) == group
        return (HIT if hit else MISS), Status()
