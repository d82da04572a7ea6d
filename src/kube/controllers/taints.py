"""Taints and tolerations: the rules the node lifecycle and taint eviction controllers share.

Upstream's `Toleration.ToleratesTaint`: a toleration matches a taint when its effect is empty
or the same, and its key is empty with operator `Exists` (tolerates everything), or the keys
are equal and either the operator is `Exists` or the values are equal (`Equal`, the default).
"""

from __future__ import annotations

from typing import Any

from kube.api.meta import Object
from kube.api.taints import tolerates as tolerates

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"


def node_taints(node: Object) -> list[dict[str, Any]]:
    taints = (node.get("spec") or {}).get("taints") or []
    return [t for t in taints if isinstance(t, dict)]


def pod_tolerations(pod: Object) -> list[dict[str, Any]]:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    return [t for t in tolerations if isinstance(t, dict)]


def eviction_delay(pod: Object, taints: list[dict[str, Any]]) -> float | None:
    """Seconds after the taints were added that `pod` must go; None: it may stay.

    0 when a NoExecute taint is not tolerated at all; otherwise the smallest
    `tolerationSeconds` among the tolerations used (upstream's getMinTolerationTime), with
    a toleration without `tolerationSeconds` tolerating forever.
    """
    tolerations = pod_tolerations(pod)
    smallest: float | None = None
    for taint in taints:
        if taint.get("effect") != NO_EXECUTE:
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        for toleration in matching:
            seconds = toleration.get("tolerationSeconds")
            if isinstance(seconds, int) and not isinstance(seconds, bool):
                value = max(0.0, float(seconds))
                smallest = value if smallest is None else min(smallest, value)
    return smallest
