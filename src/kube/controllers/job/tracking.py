"""Job tracking with finalizers: counting terminal pods exactly once, then finishing the Job.

Upstream's trackJobStatusAndRemoveFinalizers and its helpers. Every pod of a Job carries the
`batch.kubernetes.io/job-tracking` finalizer until it has been counted, so a pod can never be
deleted (by a user, the garbage collector or podgc) before the Job status accounts for it:

1. terminal pods that still carry the finalizer are added by uid to
   `status.uncountedTerminatedPods` (`succeeded` / `failed`; Indexed Jobs record succeeded
   indexes in `completedIndexes` instead), and that status is written first;
2. their finalizers are removed;
3. the uids whose finalizer is gone leave the uncounted lists and are added to the
   `succeeded` / `failed` counters, and the status is written again.

A crash between any two steps loses nothing: the next sync finds the uids in the status or the
finalizers on the pods. A finished Job gets its interim condition (FailureTarget or
SuccessCriteriaMet) with the first write, and its terminal one (Failed or Complete, with
`completionTime`) once nothing is uncounted and no pod is terminating any more.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kube.api.meta import Object
from kube.api.resources import resource
from kube.controllers.job import indexed
from kube.controllers.job import podfailurepolicy as pfp
from kube.controllers.job.backoff import BackoffRecord
from kube.controllers.walltime import rfc3339

if TYPE_CHECKING:
    from kube.controllers.job.controller import JobController

JOBS = resource("jobs")
FINALIZER = "batch.kubernetes.io/job-tracking"
# Upstream's MaxUncountedPods: bounds the status size and one sync's finalizer removals.
MAX_UNCOUNTED_PODS = 500


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _uid(obj: Object) -> str:
    return str(_meta(obj).get("uid") or "")


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def has_finalizer(pod: Object) -> bool:
    return FINALIZER in (_meta(pod).get("finalizers") or [])


def find_condition(conditions: list[dict[str, Any]], cond_type: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == cond_type), None)


def is_finished(job: Object) -> bool:
    """Complete or Failed is True (util.IsJobFinished)."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def only_replace_failed(job: Object) -> bool:
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Object, job: Object) -> bool:
    """Failed, or (unless only failed pods are replaced) deleted before it succeeded."""
    if _phase(pod) == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return bool(_meta(pod).get("deletionTimestamp")) and _phase(pod) != "Succeeded"


def condition(
    cond_type: str, reason: str, message: str, now: dt.datetime, status: str = "True"
) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": cond_type,
        "status": status,
        "lastProbeTime": rfc3339(now),
        "lastTransitionTime": rfc3339(now),
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def ensure_condition(
    conditions: list[dict[str, Any]],
    cond_type: str,
    status: str,
    reason: str,
    message: str,
    now: dt.datetime,
) -> bool:
    """Set the condition (a False one is only ever updated, never added); True if changed."""
    found = find_condition(conditions, cond_type)
    if found is not None:
        if (
            found.get("status") != status
            or found.get("reason", "") != reason
            or found.get("message", "") != message
        ):
            found.clear()
            found.update(condition(cond_type, reason, message, now, status))
            return True
        return False
    if status != "False":
        conditions.append(condition(cond_type, reason, message, now, status))
        return True
    return False


@dataclass
class SyncContext:
    """What one sync of a Job has computed so far (upstream's syncJobCtx)."""

    job: Object
    pods: list[Object]
    active_pods: list[Object]
    expected_rm_finalizers: set[str]
    now: dt.datetime
    ready: int = 0
    terminating: int = 0
    succeeded: int = 0
    failed: int = 0
    finished: dict[str, Any] | None = None
    new_backoff: BackoffRecord = field(default_factory=BackoffRecord)
    prev_succeeded: list[indexed.Interval] = field(default_factory=list)
    succeeded_indexes: list[indexed.Interval] = field(default_factory=list)
    failed_indexes: list[indexed.Interval] = field(default_factory=list)
    active_after_manage: int = 0
    # (type, reason, message) of events to send once the status is written.
    events: list[tuple[str, str, str]] = field(default_factory=list)
    uncounted_succeeded: set[str] = field(init=False)
    uncounted_failed: set[str] = field(init=False)

    def __post_init__(self) -> None:
        uncounted = (self.job.get("status") or {}).get("uncountedTerminatedPods") or {}
        self.uncounted_succeeded = set(uncounted.get("succeeded") or [])
        self.uncounted_failed = set(uncounted.get("failed") or [])

    def _valid_new(self, uncounted: set[str], keep: Any) -> list[Object]:
        job = self.job
        completions = int((job.get("spec") or {}).get("completions") or 0)
        result = []
        for pod in self.pods:
            uid = _uid(pod)
            if not has_finalizer(pod) or uid in uncounted or uid in self.expected_rm_finalizers:
                continue
            if (job.get("spec") or {}).get("completionMode") == "Indexed":
                ix = indexed.completion_index(pod)
                if ix == indexed.UNKNOWN or ix >= completions:
                    continue
            if keep(pod):
                result.append(pod)
        return result

    def new_finished_pods(self) -> tuple[list[Object], list[Object]]:
        """Terminal pods not yet accounted for in the status (getNewFinishedPods)."""
        succeeded = self._valid_new(self.uncounted_succeeded, lambda p: _phase(p) == "Succeeded")
        failed = self._valid_new(self.uncounted_failed, lambda p: is_pod_failed(p, self.job))
        return succeeded, failed

    def non_ignored_failed(self, failed: list[Object]) -> int:
        policy = (self.job.get("spec") or {}).get("podFailurePolicy")
        if not policy:
            return len(failed)
        return sum(1 for p in failed if pfp.match(policy, p).count_failed)


def _uncounted(status: dict[str, Any]) -> dict[str, list[str]]:
    raw = status.get("uncountedTerminatedPods") or {}
    lists = {k: list(raw.get(k) or []) for k in ("succeeded", "failed")}
    status["uncountedTerminatedPods"] = lists
    return lists


def clean_uncounted(status: dict[str, Any], uids_with_finalizer: set[str]) -> bool:
    """Move the uncounted uids whose finalizer is gone into the counters."""
    uncounted = _uncounted(status)
    updated = False
    for kind in ("succeeded", "failed"):
        keep = [u for u in uncounted[kind] if u in uids_with_finalizer]
        if len(keep) != len(uncounted[kind]):
            updated = True
            status[kind] = int(status.get(kind) or 0) + len(uncounted[kind]) - len(keep)
            uncounted[kind] = keep
    return updated


def wire_status(status: dict[str, Any]) -> dict[str, Any]:
    """The status as upstream serialises it (omitempty counters and lists dropped)."""
    out = dict(status)
    for key in ("active", "succeeded", "failed"):
        if not out.get(key):
            out.pop(key, None)
    uncounted = out.get("uncountedTerminatedPods") or {}
    out["uncountedTerminatedPods"] = {k: v for k, v in uncounted.items() if v}
    if not out.get("completedIndexes"):
        out.pop("completedIndexes", None)
    if not out.get("conditions"):
        out.pop("conditions", None)
    return out


async def update_status(ctl: JobController, job: Object) -> Object:
    body = dict(job)
    body["status"] = wire_status(job.get("status") or {})
    updated = await ctl.client.update(JOBS, body, subresource="status")
    fresh = copy.deepcopy(updated)
    fresh.setdefault("status", {}).setdefault("uncountedTerminatedPods", {})
    return fresh


def _can_remove_finalizer(jc: SyncContext, pod: Object, considered_failed: bool) -> bool:
    if _meta(jc.job).get("deletionTimestamp") or jc.finished is not None:
        return True
    return _phase(pod) == "Succeeded" or considered_failed


async def track_status(ctl: JobController, jc: SyncContext, key: str, needs_flush: bool) -> None:
    """trackJobStatusAndRemoveFinalizers (see the module docstring)."""
    job = jc.job
    spec = job.get("spec") or {}
    is_indexed = spec.get("completionMode") == "Indexed"
    completions = int(spec.get("completions") or 0)
    policy = spec.get("podFailurePolicy")
    status = job["status"]
    pods = jc.pods
    if is_indexed:
        pods = sorted(pods, key=indexed.completion_index)
    uids_with_finalizer = {
        _uid(p) for p in pods if has_finalizer(p) and _uid(p) not in jc.expected_rm_finalizers
    }
    if clean_uncounted(status, uids_with_finalizer):
        needs_flush = True
    uncounted = _uncounted(status)
    to_remove: list[Object] = []
    new_indexes: list[int] = []
    reached_max = False
    for pod in pods:
        uid = _uid(pod)
        if not has_finalizer(pod) or uid in jc.expected_rm_finalizers:
            continue
        failed = is_pod_failed(pod, job)
        if not _can_remove_finalizer(jc, pod, failed):
            continue
        to_remove.append(pod)
        if _phase(pod) == "Succeeded" and uid not in jc.uncounted_failed:
            if is_indexed:
                ix = indexed.completion_index(pod)
                if (
                    ix != indexed.UNKNOWN
                    and ix < completions
                    and not indexed.contains(jc.prev_succeeded, ix)
                ):
                    new_indexes.append(ix)
                    needs_flush = True
            elif uid not in jc.uncounted_succeeded:
                needs_flush = True
                uncounted["succeeded"].append(uid)
        elif failed or (jc.finished is not None and jc.finished["type"] != "SuccessCriteriaMet"):
            ix = indexed.completion_index(pod)
            if (
                uid not in jc.uncounted_failed
                and (not is_indexed or (ix != indexed.UNKNOWN and ix < completions))
                and pfp.match(policy, pod).count_failed
            ):
                needs_flush = True
                uncounted["failed"].append(uid)
        if len(new_indexes) + len(uncounted["succeeded"]) + len(uncounted["failed"]) >= (
            MAX_UNCOUNTED_PODS
        ):
            reached_max = True
            break
    if is_indexed:
        jc.succeeded_indexes = indexed.with_indexes(jc.succeeded_indexes, sorted(new_indexes))
        text = indexed.format_intervals(jc.succeeded_indexes)
        if text != (status.get("completedIndexes") or ""):
            needs_flush = True
        status["succeeded"] = indexed.total(jc.succeeded_indexes)
        status["completedIndexes"] = text
        if spec.get("backoffLimitPerIndex") is not None:
            failed_text = indexed.format_intervals(jc.failed_indexes)
            if status.get("failedIndexes") != failed_text:
                status["failedIndexes"] = failed_text
                needs_flush = True
    conditions = status.setdefault("conditions", [])
    if jc.finished is not None and jc.finished["type"] == "FailureTarget":
        conditions.append(jc.finished)
        needs_flush = True
        jc.finished = condition(
            "Failed", jc.finished.get("reason", ""), jc.finished.get("message", ""), jc.now
        )
    if jc.finished is not None and jc.finished["type"] == "SuccessCriteriaMet":
        if find_condition(conditions, "SuccessCriteriaMet") is None:
            conditions.append(jc.finished)
            needs_flush = True
        jc.finished = condition(
            "Complete", jc.finished.get("reason", ""), jc.finished.get("message", ""), jc.now
        )
    needs_flush = await _flush_and_remove_finalizers(
        ctl, jc, key, to_remove, uids_with_finalizer, needs_flush
    )
    finished = not reached_max and _enact_finished(jc)
    if finished:
        needs_flush = True
    if needs_flush:
        jc.job = await update_status(ctl, jc.job)
        if finished and jc.finished is not None:
            _record_finished(ctl, jc.job, jc.finished)


async def _flush_and_remove_finalizers(
    ctl: JobController,
    jc: SyncContext,
    key: str,
    to_remove: list[Object],
    uids_with_finalizer: set[str],
    needs_flush: bool,
) -> bool:
    """Write the uncounted uids, remove finalizers, count what was removed; pending flush."""
    if needs_flush:
        jc.job = await update_status(ctl, jc.job)
        ctl.backoffs[key] = jc.new_backoff
        needs_flush = False
    error: BaseException | None = None
    if to_remove:
        expected = ctl.finalizer_expectations.setdefault(key, set())
        expected.update(_uid(p) for p in to_remove)
        results = await asyncio.gather(
            *(ctl._remove_finalizer(p) for p in to_remove), return_exceptions=True
        )
        for pod, result in zip(to_remove, results, strict=True):
            if isinstance(result, BaseException):
                expected.discard(_uid(pod))
                error = error or result
            else:
                uids_with_finalizer.discard(_uid(pod))
    if clean_uncounted(jc.job["status"], uids_with_finalizer):
        needs_flush = True
    if error is not None:
        if needs_flush:
            jc.job = await update_status(ctl, jc.job)
        raise error
    return needs_flush


def _enact_finished(jc: SyncContext) -> bool:
    """Add Complete or Failed once nothing is uncounted and no pod is terminating."""
    if jc.finished is None:
        return False
    status = jc.job["status"]
    uncounted = status.get("uncountedTerminatedPods") or {}
    if uncounted.get("succeeded") or uncounted.get("failed"):
        return False
    if jc.terminating > 0:
        return False
    finished = jc.finished
    ensure_condition(
        status.setdefault("conditions", []),
        finished["type"],
        finished["status"],
        finished.get("reason", ""),
        finished.get("message", ""),
        jc.now,
    )
    if finished["type"] == "Complete":
        status["completionTime"] = rfc3339(jc.now)
    return True


def _record_finished(ctl: JobController, job: Object, finished: dict[str, Any]) -> None:
    if finished["type"] == "Complete":
        completions = (job.get("spec") or {}).get("completions")
        succeeded = int((job.get("status") or {}).get("succeeded") or 0)
        if completions is not None and succeeded > int(completions):
            ctl.recorder.event(
                job,
                "Warning",
                "TooManySucceededPods",
                "Too many succeeded pods running after completion count reached",
            )
        ctl.recorder.event(job, "Normal", "Completed", "Job completed")
    else:
        ctl.recorder.event(
            job, "Warning", str(finished.get("reason") or ""), str(finished.get("message") or "")
        )
