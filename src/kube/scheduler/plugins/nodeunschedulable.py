"""NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that tolerate it.

The toleration that lets a pod on is one for the `node.kubernetes.io/unschedulable` taint
with effect NoSchedule, as upstream (DaemonSet pods carry it).
"""

from __future__ import annotations

import numpy as np

from kube.api.meta import Object
from kube.api.taints import tolerated_by_any
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import NODE, ActionType, ClusterEvent, ClusterEventWithHint
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unresolvable

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def tolerates_unschedulable(pod: Object) -> bool:
    return tolerated_by_any(UNSCHEDULABLE_TAINT, (pod.get("spec") or {}).get("tolerations") or [])


class NodeUnschedulable(Plugin):
    NAME = NAME

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        if not ((node_info.node or {}).get("spec") or {}).get("unschedulable"):
            return Status()
        if tolerates_unschedulable(pod):
            return Status()
        return unresolvable(ERR_REASON_UNSCHEDULABLE)

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        m = snapshot.matrix
        if tolerates_unschedulable(pod):
            codes = np.zeros(m.n, np.int64)
        else:
            codes = m.unschedulable[: m.n].astype(np.int64)
        return NodeMask(codes, lambda code: unresolvable(ERR_REASON_UNSCHEDULABLE))

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_TAINT))
        ]
