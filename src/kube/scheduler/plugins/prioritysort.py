"""PrioritySort: the queue order, higher `spec.priority` first, then earlier enqueued first."""

from __future__ import annotations

from typing import Any

from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.nodeinfo import priority

NAME = "PrioritySort"


class PrioritySort(Plugin):
    NAME = NAME

    def less(self, a: Any, b: Any) -> bool:
        """`a` and `b` are QueuedPodInfos (pod, timestamp)."""
        pa, pb = priority(a.pod), priority(b.pod)
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)
