"""Deployment conditions and the rollout predicates built on them (upstream's deployment/util).

A Deployment reports two conditions (three with a failing ReplicaSet):

- `Available`: True/MinimumReplicasAvailable while at least `replicas - maxUnavailable` pods
  are available, else False/MinimumReplicasUnavailable;
- `Progressing`: True with NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated (some
  progress: more updated, ready or available pods, fewer old ones), NewReplicaSetAvailable
  (the rollout is complete); False/ProgressDeadlineExceeded once no progress was seen for
  `progressDeadlineSeconds`; Unknown/DeploymentPaused or DeploymentResumed around a pause;
- `ReplicaFailure`: copied from a ReplicaSet that cannot create or delete pods.

`set_condition` keeps `lastTransitionTime` while the status does not change and does nothing
when status and reason are the same, as upstream's SetDeploymentCondition.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kube.api.meta import Object, parse_rfc3339

PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"

# Reasons (upstream's deploymentutil constants).
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"

# A progressDeadlineSeconds of MaxInt32 means "no deadline".
_NO_DEADLINE = 2**31 - 1


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_condition(
    kind: str, status: str, reason: str, message: str, now: dt.datetime
) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    current = get_condition(status, cond["type"])
    if (
        current is not None
        and current.get("status") == cond["status"]
        and current.get("reason") == cond["reason"]
    ):
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    others = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = [*others, cond]


def remove_condition(status: dict[str, Any], kind: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Object) -> bool:
    seconds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return seconds is not None and int(seconds) != _NO_DEADLINE


def _n(status: dict[str, Any], name: str) -> int:
    return int(status.get(name) or 0)


def _want(d: Object) -> int:
    value = (d.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def deployment_complete(d: Object, status: dict[str, Any]) -> bool:
    """Every replica updated and available, and the latest spec observed."""
    want = _want(d)
    generation = int((d.get("metadata") or {}).get("generation") or 0)
    return (
        _n(status, "updatedReplicas") == want
        and _n(status, "replicas") == want
        and _n(status, "availableReplicas") == want
        and _n(status, "observedGeneration") >= generation
    )


def deployment_progressing(d: Object, status: dict[str, Any]) -> bool:
    """Any progress since the last recorded status (more updated/ready/available, fewer old)."""
    old = d.get("status") or {}
    old_old = _n(old, "replicas") - _n(old, "updatedReplicas")
    new_old = _n(status, "replicas") - _n(status, "updatedReplicas")
    return (
        _n(status, "updatedReplicas") > _n(old, "updatedReplicas")
        or new_old < old_old
        or _n(status, "readyReplicas") > _n(old, "readyReplicas")
        or _n(status, "availableReplicas") > _n(old, "availableReplicas")
    )


def deployment_timed_out(d: Object, status: dict[str, Any], now: dt.datetime) -> bool:
    """No progress recorded for longer than progressDeadlineSeconds."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    last = cond.get("lastUpdateTime")
    if not last:
        return False
    deadline = int((d.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return parse_rfc3339(str(last)) + dt.timedelta(seconds=deadline) < now
