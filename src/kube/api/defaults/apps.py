"""Defaults of the apps group's kinds, as pkg/apis/apps/v1/defaults.go applies them.

- Deployment: `replicas: 1`; strategy `RollingUpdate` with `maxUnavailable` and `maxSurge`
  of `25%`; `revisionHistoryLimit: 10`; `progressDeadlineSeconds: 600`.
- ReplicaSet: `replicas: 1`.
- StatefulSet: `podManagementPolicy: OrderedReady`; update strategy `RollingUpdate` with
  `partition: 0`; claim retention policy `Retain` when deleted and when scaled; `replicas:
  1`; `revisionHistoryLimit: 10`; `serviceName` stays as given; each volume claim template
  gets the claim defaults (volume mode Filesystem, phase Pending).
- DaemonSet: update strategy `RollingUpdate` with `maxUnavailable: 1`, `maxSurge: 0`;
  `revisionHistoryLimit: 10`.

Every pod template gets the pod-spec defaults of `kube.api.defaults.core`.
"""

from __future__ import annotations

from kube.api.defaults import core
from kube.api.defaults._walk import Object, items, set_if_empty, setdefault, sub


def deployment(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "replicas", 1)
    strategy = sub(spec, "strategy")
    set_if_empty(strategy, "type", "RollingUpdate")
    if strategy is not None and strategy.get("type") == "RollingUpdate":
        rolling = sub(strategy, "rollingUpdate")
        setdefault(rolling, "maxUnavailable", "25%")
        setdefault(rolling, "maxSurge", "25%")
    setdefault(spec, "revisionHistoryLimit", 10)
    setdefault(spec, "progressDeadlineSeconds", 600)
    core.pod_template(sub(spec, "template"))


def replica_set(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "replicas", 1)
    core.pod_template(sub(spec, "template"))


def stateful_set(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    set_if_empty(spec, "podManagementPolicy", "OrderedReady")
    strategy = sub(spec, "updateStrategy")
    if strategy is not None and not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        setdefault(strategy, "rollingUpdate", {})
    if strategy is not None and strategy.get("type") == "RollingUpdate":
        setdefault(sub(strategy, "rollingUpdate", create=False), "partition", 0)
    retention = sub(spec, "persistentVolumeClaimRetentionPolicy")
    set_if_empty(retention, "whenDeleted", "Retain")
    set_if_empty(retention, "whenScaled", "Retain")
    setdefault(spec, "replicas", 1)
    setdefault(spec, "revisionHistoryLimit", 10)
    core.pod_template(sub(spec, "template"))
    for claim in items(spec, "volumeClaimTemplates"):
        core.persistent_volume_claim(claim)


def daemon_set(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    strategy = sub(spec, "updateStrategy")
    set_if_empty(strategy, "type", "RollingUpdate")
    if strategy is not None and strategy.get("type") == "RollingUpdate":
        rolling = sub(strategy, "rollingUpdate")
        setdefault(rolling, "maxUnavailable", 1)
        setdefault(rolling, "maxSurge", 0)
    setdefault(spec, "revisionHistoryLimit", 10)
    core.pod_template(sub(spec, "template"))
