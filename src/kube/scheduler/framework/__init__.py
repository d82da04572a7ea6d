"""The scheduling framework: extension points, cycle state, statuses, registry and runtime.

See interfaces.py for the contract of each extension point and runtime.py for how a profile's
plugins run; plugins live in kube.scheduler.plugins, one module each.
"""

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from kube.scheduler.framework.registry import DuplicatePluginError, Registry
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Code, Status

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
