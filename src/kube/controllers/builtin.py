"""Imports every built-in controller module; each registers itself in `manager.CONTROLLERS`.

Add a line here when adding a controller module.
"""

from __future__ import annotations

from kube.controllers import (
    daemonset,  # noqa: F401
    disruption,  # noqa: F401
    endpoints,  # noqa: F401
    endpointslice,  # noqa: F401
    namespace,  # noqa: F401
    nodelifecycle,  # noqa: F401
    podgc,  # noqa: F401
    replicaset,  # noqa: F401
    resourcequota,  # noqa: F401
    serviceaccount,  # noqa: F401
    statefulset,  # noqa: F401
    tainteviction,  # noqa: F401
    ttlafterfinished,  # noqa: F401
    volumeprotection,  # noqa: F401
)
from kube.controllers.cronjob import controller as _cronjob  # noqa: F401
from kube.controllers.deployment import controller as _deployment  # noqa: F401
from kube.controllers.garbagecollector import controller as _gc  # noqa: F401
from kube.controllers.job import controller as _job  # noqa: F401
