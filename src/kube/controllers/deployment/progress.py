"""Rollout progress: the Progressing condition, its deadline, and ReplicaSet failures
(upstream's deployment/progress.go).

`sync_rollout_status` computes the status (sync.calculate_status), then, while a rollout with
a progress deadline is under way, sets Progressing to NewReplicaSetAvailable once complete,
ReplicaSetUpdated (refreshing lastUpdateTime) whenever progress was made, or
ProgressDeadlineExceeded once `progressDeadlineSeconds` passed without progress. A ReplicaSet's
ReplicaFailure condition is copied onto the Deployment. When nothing changed, a Deployment
that is still rolling out is requeued for the moment its deadline would pass, so a stuck
rollout is reported even if no informer event comes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kube.api.errors import go_quote
from kube.api.meta import Object, parse_rfc3339
from kube.client.informer import object_key
from kube.controllers.deployment import conditions as cond
from kube.controllers.deployment import sync

if TYPE_CHECKING:
    from kube.controllers.deployment.controller import DeploymentController


async def sync_rollout_status(
    dc: DeploymentController, all_rss: list[Object | None], new_rs: Object | None, d: Object
) -> None:
    status = sync.calculate_status(dc, all_rss, new_rs, d)
    now = dc.wall_now()
    if not cond.has_progress_deadline(d):
        cond.remove_condition(status, cond.PROGRESSING)
    current = cond.get_condition(d.get("status") or {}, cond.PROGRESSING)
    complete_before = (
        int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
        and current is not None
        and current.get("reason") == cond.NEW_RS_AVAILABLE_REASON
    )
    subject = (
        f"ReplicaSet {go_quote(sync.name_of(new_rs))}"
        if new_rs is not None
        else f"Deployment {go_quote(sync.name_of(d))}"
    )
    if cond.has_progress_deadline(d) and not complete_before:
        if cond.deployment_complete(d, status):
            cond.set_condition(
                status,
                cond.new_condition(
                    cond.PROGRESSING,
                    "True",
                    cond.NEW_RS_AVAILABLE_REASON,
                    f"{subject} has successfully progressed.",
                    now,
                ),
            )
        elif cond.deployment_progressing(d, status):
            condition = cond.new_condition(
                cond.PROGRESSING,
                "True",
                cond.RS_UPDATED_REASON,
                f"{subject} is progressing.",
                now,
            )
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                cond.remove_condition(status, cond.PROGRESSING)
            cond.set_condition(status, condition)
        elif cond.deployment_timed_out(d, status, now):
            cond.set_condition(
                status,
                cond.new_condition(
                    cond.PROGRESSING,
                    "False",
                    cond.TIMED_OUT_REASON,
                    f"{subject} has timed out progressing.",
                    now,
                ),
            )
    failures = replica_failures(all_rss, new_rs)
    if failures:
        cond.set_condition(status, failures[0])
    else:
        cond.remove_condition(status, cond.REPLICA_FAILURE)
    status = sync.normalized(status)
    if sync.normalized(d.get("status") or {}) == status:
        requeue_stuck_deployment(dc, d, status)
        return
    d["status"] = status
    await sync.update_status(dc, d)


def replica_failures(all_rss: list[Object | None], new_rs: Object | None) -> list[dict[str, Any]]:
    """The ReplicaFailure condition of the new ReplicaSet, else of an old one, as the
    Deployment's."""
    ordered = [new_rs, *[rs for rs in all_rss if rs is not new_rs]]
    for rs in ordered:
        if rs is None:
            continue
        for c in (rs.get("status") or {}).get("conditions") or []:
            if c.get("type") == cond.REPLICA_FAILURE and c.get("status") == "True":
                stamp = c.get("lastTransitionTime")
                return [
                    {
                        "type": cond.REPLICA_FAILURE,
                        "status": c.get("status"),
                        "lastUpdateTime": stamp,
                        "lastTransitionTime": stamp,
                        "reason": c.get("reason"),
                        "message": c.get("message"),
                    }
                ]
    return []


def requeue_stuck_deployment(dc: DeploymentController, d: Object, status: dict[str, Any]) -> float:
    """Look at the Deployment again when its progress deadline would pass; the delay, or -1."""
    current = cond.get_condition(d.get("status") or {}, cond.PROGRESSING)
    if not cond.has_progress_deadline(d) or current is None:
        return -1.0
    if cond.deployment_complete(d, status) or current.get("reason") == cond.TIMED_OUT_REASON:
        return -1.0
    last = current.get("lastUpdateTime")
    if not last:
        return -1.0
    deadline = int((d.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    after = (parse_rfc3339(str(last)) - dc.wall_now()).total_seconds() + deadline
    key = object_key(d)
    if after < 1:
        dc.queue.add_rate_limited(key)
        return 0.0
    dc.enqueue_after(key, after + 1)
    return after
