"""The scheduling framework: extension points, cycle state, statuses, registry and runtime.

See interfaces.py for the contract of each extension point and runtime.py for how a profile's
plugins run; plugins live in kube.scheduler.plugins, one module each.

The names below are imported on first use (PEP 562), not when the package is: the node
matrix (kube.scheduler.matrix) imports `framework.nodeinfo`, and the snapshot imports the
matrix, so importing them all here made `import kube.scheduler.matrix` circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kube.scheduler.framework.cycle_state import CycleState
    from kube.scheduler.framework.interfaces import NodeMask, Plugin
    from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
    from kube.scheduler.framework.registry import DuplicatePluginError, Registry
    from kube.scheduler.framework.snapshot import Snapshot
    from kube.scheduler.framework.status import Code, Status

_WHERE = {
    "CycleState": "cycle_state",
    "NodeMask": "interfaces",
    "Plugin": "interfaces",
    "NodeInfo": "nodeinfo",
    "PodInfo": "nodeinfo",
    "DuplicatePluginError": "registry",
    "Registry": "registry",
    "Snapshot": "snapshot",
    "Code": "status",
    "Status": "status",
}

__all__ = [
    "Code",
    "CycleState",
    "DuplicatePluginError",
    "NodeInfo",
    "NodeMask",
    "Plugin",
    "PodInfo",
    "Registry",
    "Snapshot",
    "Status",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
