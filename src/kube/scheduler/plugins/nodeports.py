"""NodePorts: a pod's host ports must be free on the node.

A wanted (protocol, ip, port) conflicts with one in use of the same protocol and port when
either address is 0.0.0.0 (every address) or both are the same (upstream's HostPortInfo).
Rejection is Unschedulable (preempting the holder would free the port): "node(s) didn't have
free ports for the requested pod ports".
"""

from __future__ import annotations

import numpy as np

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
from kube.scheduler.framework.nodeinfo import HostPort, NodeInfo, host_ports
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unschedulable

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
WILDCARD_IP = "0.0.0.0"

_ports_filter = kernels.get("ports_filter")


def conflicts(wanted: HostPort, used: HostPort) -> bool:
    if wanted[0] != used[0] or wanted[2] != used[2]:
        return False
    return wanted[1] == WILDCARD_IP or used[1] == WILDCARD_IP or wanted[1] == used[1]


class NodePorts(Plugin):
    NAME = NAME

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        for wanted in host_ports(pod):
            if any(conflicts(wanted, used) for used in node_info.used_ports):
                return unschedulable(ERR_REASON)
        return Status()

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        m = snapshot.matrix
        wanted = host_ports(pod)
        ids = np.array(
            [
                pid
                for pid, used in enumerate(m.ports.values)
                if any(conflicts(w, used) for w in wanted)
            ],
            np.int64,
        )
        codes = _ports_filter(m.port_counts[: m.n], ids)
        return NodeMask(codes, lambda code: unschedulable(ERR_REASON))

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(ASSIGNED_POD, ActionType.DELETE)),
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD)),
        ]
