"""NodeName: a pod that names a node (`spec.nodeName`) fits only that node."""

from __future__ import annotations

import numpy as np

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import NODE_ADD, ClusterEventWithHint
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unresolvable

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


def _wanted(pod: Object) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


class NodeName(Plugin):
    NAME = NAME

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        wanted = _wanted(pod)
        if not wanted or wanted == node_info.name:
            return Status()
        return unresolvable(ERR_REASON)

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        n = len(snapshot)
        wanted = _wanted(pod)
        codes = np.zeros(n, np.int64)
        if wanted:
            codes[:] = 1
            row = snapshot.matrix.index.get(wanted)
            if row is not None:
                codes[row] = 0
        return NodeMask(codes, lambda code: unresolvable(ERR_REASON))

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [ClusterEventWithHint(NODE_ADD)]
