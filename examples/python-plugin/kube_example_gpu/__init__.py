"""GpuModel: a vectorised Filter that keeps a pod off nodes without the GPU model it asks for.

A pod asks for a model with the annotation (or, failing that, the label)
`example.kube.io/gpu-model: a100`; only nodes labelled `example.kube.io/gpu-model=a100` pass.
A pod that asks for nothing passes everywhere. The rejection is UnschedulableAndUnresolvable:
evicting pods cannot give a node another GPU, so preemption does not try.

`filter_nodes` answers for every node at once from the node matrix: the label column of the
key holds each node's interned value id, so the mask is one comparison over an int32 column.
`filter` is the per-node reference the scheduler uses for dry runs (preemption) and the tests
compare against. The key is configurable: `pluginConfig: [{name: GpuModel, args: {key: ...}}]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import NODE, ActionType, ClusterEvent, ClusterEventWithHint
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unresolvable

KEY = "example.kube.io/gpu-model"
REASON = "node(s) didn't have the requested GPU model"


class GpuModel(Plugin):
    NAME = "GpuModel"

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.key = str(self.args.get("key") or KEY)
        self._rejected = unresolvable(REASON)

    def wanted(self, pod: Object) -> str | None:
        """The model the pod asks for (annotation first, then label), None for none."""
        meta = pod.get("metadata") or {}
        for where in ("annotations", "labels"):
            value = (meta.get(where) or {}).get(self.key)
            if value:
                return str(value)
        return None

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        n = len(snapshot)
        want = self.wanted(pod)
        if want is None:
            return NodeMask(np.zeros(n, np.int64), self._status_of)
        matrix = snapshot.matrix
        col = matrix.label_keys.get(self.key)
        value = matrix.label_value_id(self.key, want)
        if col < 0 or value < 0:  # no node ever had this key or this model
            return NodeMask(np.ones(n, np.int64), self._status_of)
        codes = (matrix.labels[:n, col] != value).astype(np.int64)
        return NodeMask(codes, self._status_of)

    def _status_of(self, code: int) -> Status:
        return self._rejected if code else Status()

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        want = self.wanted(pod)
        if want is None or node_info.labels.get(self.key) == want:
            return Status()
        return unresolvable(REASON)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        # A new node, or a node relabelled, may carry the model a rejected pod waits for.
        return [
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL))
        ]
