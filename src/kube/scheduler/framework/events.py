"""Cluster events and queueing hints: which changes may make a rejected pod schedulable.

Upstream's `framework.ClusterEvent` and QueueingHint. A pod that no node fits waits in the
unschedulable pool, remembering which plugins rejected it. When something changes in the
cluster (a node is added, a node's taints change, a bound pod is deleted, ...) the queue asks
each of those plugins' registered events: an event of a matching resource and action, whose
hint function (if any) answers QUEUE for this pod, moves the pod back to the active queue (or
to backoff while it is still backing off). Nothing else moves it, except the 5-minute flush.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from kube.api.meta import Object


class ActionType(enum.IntFlag):
    ADD = enum.auto()
    DELETE = enum.auto()
    UPDATE_NODE_ALLOCATABLE = enum.auto()
    UPDATE_NODE_LABEL = enum.auto()
    UPDATE_NODE_TAINT = enum.auto()
    UPDATE_NODE_CONDITION = enum.auto()
    UPDATE_NODE_ANNOTATION = enum.auto()
    UPDATE_POD_LABEL = enum.auto()
    UPDATE_POD_SCALE_DOWN = enum.auto()
    UPDATE_POD_TOLERATIONS = enum.auto()
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = enum.auto()
    UPDATE_OTHER = enum.auto()

    @classmethod
    def update(cls) -> ActionType:
        return cls.all() & ~(cls.ADD | cls.DELETE)

    @classmethod
    def all(cls) -> ActionType:
        value = cls(0)
        for member in cls:
            value |= member
        return value


NODE = "Node"
ASSIGNED_POD = "Pod"  # a pod bound to a node (upstream's EventResource "Pod")
UNSCHEDULED_POD = "UnscheduledPod"
PDB = "PodDisruptionBudget"
WILDCARD = "*"


class QueueingHint(enum.Enum):
    QUEUE = "Queue"
    QUEUE_SKIP = "QueueSkip"


HintFn = Callable[[Object, Object | None, Object | None], QueueingHint]


@dataclass(frozen=True)
class ClusterEvent:
    resource: str
    action: ActionType
    label: str = ""

    def matches(self, other: ClusterEvent) -> bool:
        """Whether this registered event covers `other`, the one that happened."""
        if self.resource != WILDCARD and self.resource != other.resource:
            return False
        return bool(self.action & other.action)


@dataclass(frozen=True)
class ClusterEventWithHint:
    event: ClusterEvent
    hint: HintFn | None = None


NODE_ADD = ClusterEvent(NODE, ActionType.ADD, "NodeAdd")
ASSIGNED_POD_DELETE = ClusterEvent(ASSIGNED_POD, ActionType.DELETE, "AssignedPodDelete")
UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, ActionType.all(), "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(WILDCARD, ActionType.all(), "ForceActivate")


def node_update_actions(old: Object, new: Object) -> ActionType:
    """What changed between two versions of a node that scheduling may care about."""
    action = ActionType(0)
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if old_status.get("allocatable") != new_status.get("allocatable"):
        action |= ActionType.UPDATE_NODE_ALLOCATABLE
    if old_meta.get("labels") != new_meta.get("labels"):
        action |= ActionType.UPDATE_NODE_LABEL
    if old_spec.get("taints") != new_spec.get("taints") or bool(
        old_spec.get("unschedulable")
    ) != bool(new_spec.get("unschedulable")):
        action |= ActionType.UPDATE_NODE_TAINT
    strip = [
        {k: v for k, v in c.items() if k not in ("lastHeartbeatTime",)}
        for c in old_status.get("conditions") or []
    ]
    new_strip = [
        {k: v for k, v in c.items() if k not in ("lastHeartbeatTime",)}
        for c in new_status.get("conditions") or []
    ]
    if strip != new_strip:
        action |= ActionType.UPDATE_NODE_CONDITION
    if old_meta.get("annotations") != new_meta.get("annotations"):
        action |= ActionType.UPDATE_NODE_ANNOTATION
    if old_status.get("images") != new_status.get("images"):
        action |= ActionType.UPDATE_OTHER
    return action


def pod_update_actions(old: Object, new: Object) -> ActionType:
    action = ActionType(0)
    if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
        action |= ActionType.UPDATE_POD_LABEL
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if old_spec.get("tolerations") != new_spec.get("tolerations"):
        action |= ActionType.UPDATE_POD_TOLERATIONS
    if old_spec.get("schedulingGates") and not new_spec.get("schedulingGates"):
        action |= ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED
    if old_spec.get("containers") != new_spec.get("containers"):
        action |= ActionType.UPDATE_POD_SCALE_DOWN
    if not action and old != new:
        action |= ActionType.UPDATE_OTHER
    return action
