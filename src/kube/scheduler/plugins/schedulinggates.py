"""SchedulingGates: a pod with `spec.schedulingGates` stays out of the active queue.

PreEnqueue rejects it (UnschedulableAndUnresolvable, "waiting for scheduling gates: [a b]");
the pod shows PodScheduled=False with reason SchedulingGated until its gates are removed (a
pod update, which re-runs PreEnqueue).
"""

from __future__ import annotations

from kube.api.meta import Object
from kube.scheduler.framework.events import (
    UNSCHEDULED_POD,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
)
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.status import Status, unresolvable

NAME = "SchedulingGates"


def gates(pod: Object) -> list[str]:
    return [str(g.get("name")) for g in (pod.get("spec") or {}).get("schedulingGates") or []]


class SchedulingGates(Plugin):
    NAME = NAME

    def pre_enqueue(self, pod: Object) -> Status:
        names = gates(pod)
        if not names:
            return Status()
        return unresolvable(f"waiting for scheduling gates: [{' '.join(names)}]")

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(
                ClusterEvent(UNSCHEDULED_POD, ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED)
            )
        ]
