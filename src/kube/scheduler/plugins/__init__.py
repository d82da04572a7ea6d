"""The in-tree plugins, one module each, under upstream's names.

`in_tree_registry()` is the Registry the scheduler starts from; out-of-tree plugins are merged
into it by name (a duplicate is an error).
"""

from __future__ import annotations

from typing import Any

from kube.scheduler.framework.registry import Registry
from kube.scheduler.plugins.balancedallocation import BalancedAllocation
from kube.scheduler.plugins.defaultbinder import DefaultBinder
from kube.scheduler.plugins.defaultpreemption import DefaultPreemption
from kube.scheduler.plugins.imagelocality import ImageLocality
from kube.scheduler.plugins.interpodaffinity import InterPodAffinity
from kube.scheduler.plugins.nodeaffinity import NodeAffinity
from kube.scheduler.plugins.nodename import NodeName
from kube.scheduler.plugins.nodeports import NodePorts
from kube.scheduler.plugins.noderesourcesfit import NodeResourcesFit
from kube.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kube.scheduler.plugins.podtopologyspread import PodTopologySpread
from kube.scheduler.plugins.prioritysort import PrioritySort
from kube.scheduler.plugins.schedulinggates import SchedulingGates
from kube.scheduler.plugins.tainttoleration import TaintToleration

IN_TREE: tuple[Any, ...] = (
    PrioritySort,
    SchedulingGates,
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    BalancedAllocation,
    PodTopologySpread,
    InterPodAffinity,
    ImageLocality,
    DefaultPreemption,
    DefaultBinder,
)


def in_tree_registry() -> Registry:
    registry = Registry()
    for cls in IN_TREE:
        registry.register(cls.NAME, cls)
    return registry


__all__ = ["IN_TREE", "in_tree_registry"]
