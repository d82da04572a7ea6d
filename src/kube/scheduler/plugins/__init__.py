"""The in-tree plugins, one module each, under upstream's names.

`in_tree_registry()` is the Registry the scheduler starts from; out-of-tree plugins (a class
with a NAME implementing any extension points, found through the entry point group
`kube.scheduler.plugins` or named by `kube scheduler --plugin module:Class`) are merged into it
by `registry_with`, and a duplicate name is an error.
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


ENTRY_POINT_GROUP = "kube.scheduler.plugins"


class PluginLoadError(ValueError):
    """An out-of-tree plugin that cannot be imported or is not a plugin class."""


def _plugin_class(target: Any, where: str) -> Any:
    name = getattr(target, "NAME", None)
    if not isinstance(target, type) or not isinstance(name, str) or not name:
        raise PluginLoadError(f"{where} is not a plugin class with a NAME")
    return target


def load_plugin(spec: str) -> Any:
    """The class named by `module:Class` (what `kube scheduler --plugin` takes)."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise PluginLoadError(f"--plugin {spec!r}: use module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PluginLoadError(f"--plugin {spec!r}: cannot import {module_name}: {err}") from err
    target = getattr(module, attr, None)
    if target is None:
        raise PluginLoadError(f"--plugin {spec!r}: {module_name} has no {attr}")
    return _plugin_class(target, f"--plugin {spec!r}")


def registry_with(specs: list[str], *, entry_points: bool = True) -> Registry:
    """The in-tree registry merged with the entry point group's plugins and `specs`.

    A name already registered (in-tree or twice out-of-tree) is an error, never a silent
    replacement.
    """
    registry = in_tree_registry()
    if entry_points:
        from importlib.metadata import entry_points as found

        for ep in found(group=ENTRY_POINT_GROUP):
            try:
                cls = _plugin_class(ep.load(), f"entry point {ep.name!r}")
            except ImportError as err:
                raise PluginLoadError(f"entry point {ep.name!r}: {err}") from err
            registry.register(cls.NAME, cls)
    for spec in specs:
        cls = load_plugin(spec)
        registry.register(cls.NAME, cls)
    return registry


__all__ = [
    "ENTRY_POINT_GROUP",
    "IN_TREE",
    "PluginLoadError",
    "in_tree_registry",
    "load_plugin",
    "registry_with",
]
