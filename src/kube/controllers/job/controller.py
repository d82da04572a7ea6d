"""The Job controller: runs pods until `completions` succeed, or the Job fails.

Upstream's job_controller.go (1.31+ behaviour: tracking with finalizers, interim
FailureTarget / SuccessCriteriaMet conditions, terminating pods counted). One sync of a Job:

1. claim its pods (adopting orphans that match its selector, releasing strays);
2. count: active (not terminal, not being deleted), ready, terminating, and the terminal pods
   not yet counted — those still carrying the `batch.kubernetes.io/job-tracking` finalizer,
   which every pod gets when it is created so that it cannot disappear before it is counted;
3. decide whether the Job has finished: a FailJob rule of `podFailurePolicy` matched, more
   failures than `backoffLimit` (or container restarts past it with `restartPolicy:
   OnFailure`), `activeDeadlineSeconds` passed (requeueing itself for the deadline otherwise),
   for Indexed Jobs with `backoffLimitPerIndex` too many failed indexes, or enough successes;
4. if it failed, delete the active pods; otherwise create or delete pods (`manage.py`) towards
   `min(parallelism, completions - succeeded)` — after the exponential backoff of
   `backoff.py` once pods failed; Indexed Jobs create the lowest missing indexes — or, when
   suspended, delete every active pod and set the Suspended condition;
5. tracking (`tracking.py`): record newly terminal pods in `status.uncountedTerminatedPods`,
   write that, remove their finalizers, then move them into `succeeded`/`failed` (or
   `completedIndexes`); a finished Job first gets FailureTarget or SuccessCriteriaMet, and
   Failed or Complete (with `completionTime`) once no pod is uncounted or terminating.

Events are upstream's: SuccessfulCreate "Created pod: <name>", SuccessfulDelete "Deleted pod:
<name>", Completed "Job completed", a failure's reason and message (BackoffLimitExceeded "Job
has reached the specified backoff limit", DeadlineExceeded "Job was active longer than
specified deadline", PodFailurePolicy ...), Suspended / Resumed.

Pods with the tracking finalizer whose Job is gone or finished are orphans; a second queue
removes their finalizer. Pod events reach the sync after a 1 s batching delay (upstream's
syncJobBatchPeriod; the `job-sync-batch-period` option changes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.api.selectors import SelectorError, from_label_selector
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, object_key, split_key
from kube.client.worker import run_workers
from kube.client.workqueue import RateLimitingQueue
from kube.controllers import manager
from kube.controllers.base import Controller, ControllerContext
from kube.controllers.expectations import ControllerExpectations
from kube.controllers.job import indexed
from kube.controllers.job import podfailurepolicy as pfp
from kube.controllers.job.backoff import BackoffRecord, next_record
from kube.controllers.job.manage import JobPods, index_failure_count, is_indexed, suspended
from kube.controllers.job.tracking import (
    FINALIZER,
    SyncContext,
    condition,
    ensure_condition,
    find_condition,
    has_finalizer,
    is_finished,
    is_pod_failed,
    track_status,
)
from kube.controllers.pods import (
    controller_of,
    controller_ref,
    is_pod_active,
    is_pod_ready,
)
from kube.controllers.refmanager import RefManager, recheck_owner
from kube.controllers.replicaset import matcher
from kube.controllers.walltime import WallClock, parse_time, rfc3339

JOBS = resource("jobs")
PODS = resource("pods")
API_VERSION, KIND = "batch/v1", "Job"
# Upstream's syncJobBatchPeriod: pod events reach the sync this much later, batched.
SYNC_JOB_BATCH_PERIOD = 1.0
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def managed_externally(job: Object) -> bool:
    managed_by = _spec(job).get("managedBy")
    return managed_by is not None and managed_by != JOB_CONTROLLER_NAME


def past_backoff_limit_on_failure(job: Object, pods: list[Object]) -> bool:
    """restartPolicy OnFailure: the running pods' container restarts reached backoffLimit."""
    template_spec = (_spec(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") in ("Running", "Pending"):
            for key in ("initContainerStatuses", "containerStatuses"):
                restarts += sum(int(c.get("restartCount") or 0) for c in status.get(key) or [])
    limit = int(_spec(job).get("backoffLimit") or 0)
    return restarts > 0 if limit == 0 else restarts >= limit


class JobController(JobPods, Controller):
    """Runs every Job's pods to completion and reports its status."""

    NAME = "job"
    WORKERS_FLAG = "concurrent-job-syncs"
    MAX_RETRIES = None  # upstream requeues a failing Job forever, with backoff up to 60 s

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.wall = WallClock(self.clock)
        self.expectations = ControllerExpectations(self.clock.now)
        # Pod uids whose finalizer removal this controller asked for and has not yet seen.
        self.finalizer_expectations: dict[str, set[str]] = {}
        self.backoffs: dict[str, BackoffRecord] = {}
        self.batch_period = float(ctx.options.get("job-sync-batch-period", SYNC_JOB_BATCH_PERIOD))
        self.orphan_queue: RateLimitingQueue[str] = RateLimitingQueue(
            f"{self.NAME}-orphan-pod", clock=ctx.clock
        )

    # -- informers -------------------------------------------------------------------------

    def setup(self) -> None:
        informers = self.ctx.informers
        self.jobs = informers.informer(JOBS)
        self.pods = informers.informer(PODS)
        self.job_lister = self.jobs.lister()
        self.pod_lister = self.pods.lister()
        self.jobs.add_event_handler(
            EventHandler(
                on_add=self._job_added, on_update=self._job_updated, on_delete=self._job_deleted
            )
        )
        self.pods.add_event_handler(
            EventHandler(
                on_add=self._pod_added,
                on_update=self._pod_updated,
                on_delete=lambda obj: self._pod_deleted(obj, final=True),
            )
        )

    async def run(self, workers: int | None = None) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(super().run(workers))
            group.create_task(
                run_workers(
                    self.orphan_queue,
                    self.sync_orphan_pod,
                    1,
                    max_retries=None,
                    name=f"{self.NAME}-orphan-pod",
                    log=self.log,
                )
            )

    def shutdown(self) -> None:
        super().shutdown()
        self.orphan_queue.shutdown()

    def _enqueue_now(self, job: Object) -> None:
        self.queue.add(object_key(job))

    def _enqueue_batched(self, job: Object) -> None:
        self.queue.add_after(object_key(job), self.batch_period)

    def _enqueue_delayed(self, key: str, delay: float) -> None:
        self.queue.add_after(key, max(delay, self.batch_period))

    def _job_added(self, job: Object) -> None:
        self._enqueue_now(job)

    def _job_updated(self, old: Object, cur: Object) -> None:
        if _meta(old).get("generation") == _meta(cur).get("generation"):
            self._enqueue_batched(cur)
        else:
            self._enqueue_now(cur)
        if is_finished(cur):
            self._cleanup_pod_finalizers(cur)
        start = parse_time((cur.get("status") or {}).get("startTime"))
        deadline = _spec(cur).get("activeDeadlineSeconds")
        changed = _spec(old).get("activeDeadlineSeconds") != deadline
        if start is not None and deadline is not None and changed:
            passed = (self.wall.now() - start).total_seconds()
            self.queue.add_after(object_key(cur), float(deadline) - passed)

    def _job_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        job = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        self.queue.add(object_key(job))
        self._cleanup_pod_finalizers(job)

    def _cleanup_pod_finalizers(self, job: Object) -> None:
        """Hand the job's pods that still carry the finalizer to the orphan queue."""
        try:
            reqs = from_label_selector(_spec(job).get("selector") or {})
        except SelectorError:
            return
        if not reqs:
            return
        match = matcher(reqs)
        for pod in self.pod_lister.list(str(_meta(job).get("namespace") or "")):
            if has_finalizer(pod) and match(_meta(pod).get("labels") or {}):
                self.orphan_queue.add(object_key(pod))

    def _resolve(self, namespace: str, ref: dict[str, Any] | None) -> Object | None:
        if ref is None or ref.get("kind") != KIND:
            return None
        job = self.job_lister.get(str(ref.get("name")), namespace)
        if job is None or _meta(job).get("uid") != ref.get("uid"):
            return None
        return job

    def _jobs_selecting(self, pod: Object) -> list[Object]:
        labels = _meta(pod).get("labels") or {}
        if not labels:
            return []
        found = []
        for job in self.job_lister.list(str(_meta(pod).get("namespace") or "")):
            try:
                reqs = from_label_selector(_spec(job).get("selector") or {})
            except SelectorError:
                continue
            if reqs and matcher(reqs)(labels):
                found.append(job)
        return found

    def _finalizer_removal_observed(self, key: str, uid: str) -> None:
        expected = self.finalizer_expectations.get(key)
        if expected is not None:
            expected.discard(uid)

    def _pod_added(self, pod: Object) -> None:
        if _meta(pod).get("deletionTimestamp"):
            self._pod_deleted(pod, final=False)
            return
        ref = controller_of(pod)
        if ref is not None:
            job = self._resolve(str(_meta(pod).get("namespace") or ""), ref)
            if job is None:
                return
            self.expectations.creation_observed(object_key(job))
            self._enqueue_batched(job)
            return
        if has_finalizer(pod):
            self.orphan_queue.add(object_key(pod))
        for job in self._jobs_selecting(pod):
            self._enqueue_batched(job)

    def _pod_updated(self, old: Object, cur: Object) -> None:
        if _meta(old).get("resourceVersion") == _meta(cur).get("resourceVersion"):
            return
        if _meta(cur).get("deletionTimestamp"):
            self._pod_deleted(cur, final=False)
            return
        namespace = str(_meta(cur).get("namespace") or "")
        uid = str(_meta(cur).get("uid") or "")
        finalizer_removed = not has_finalizer(cur)
        cur_ref, old_ref = controller_of(cur), controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            old_job = self._resolve(namespace, old_ref)
            if old_job is not None:
                if finalizer_removed:
                    self._finalizer_removal_observed(object_key(old_job), uid)
                self._enqueue_batched(old_job)
        if cur_ref is not None:
            job = self._resolve(namespace, cur_ref)
            if job is None:
                return
            if finalizer_removed:
                self._finalizer_removal_observed(object_key(job), uid)
            self._enqueue_batched(job)
            return
        if has_finalizer(cur):
            self.orphan_queue.add(object_key(cur))
        if ref_changed or _meta(cur).get("labels") != _meta(old).get("labels"):
            for job in self._jobs_selecting(cur):
                self._enqueue_batched(job)

    def _pod_deleted(self, obj: Object | DeletedFinalStateUnknown, *, final: bool) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        ref = controller_of(pod)
        finalizer = has_finalizer(pod)
        if ref is None:
            if finalizer:
                self.orphan_queue.add(object_key(pod))
            return
        job = self._resolve(str(_meta(pod).get("namespace") or ""), ref)
        if job is None or is_finished(job):
            if finalizer:
                self.orphan_queue.add(object_key(pod))
            return
        key = object_key(job)
        self.expectations.deletion_observed(key)
        if final or not finalizer:
            self._finalizer_removal_observed(key, str(_meta(pod).get("uid") or ""))
        self._enqueue_batched(job)

    # -- orphan pods -----------------------------------------------------------------------

    async def sync_orphan_pod(self, key: str) -> None:
        """Remove the tracking finalizer from a pod no unfinished Job of ours controls."""
        namespace, name = split_key(key)
        pod = self.pod_lister.get(name, namespace)
        if pod is None:
            return
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") != KIND or ref.get("apiVersion") != API_VERSION:
                return
            job = self._resolve(namespace, ref)
            if job is not None and managed_externally(job):
                return
            if job is not None and not is_finished(job):
                return
        await self._remove_finalizer(pod)

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        shared = self.job_lister.get(name, namespace)
        if shared is None:
            self.expectations.delete(key)
            self.finalizer_expectations.pop(key, None)
            self.backoffs.pop(key, None)
            return
        if managed_externally(shared) or is_finished(shared):
            self.backoffs.pop(key, None)
            return
        job = copy.deepcopy(shared)
        mode = _spec(job).get("completionMode")
        if mode not in (None, "NonIndexed", "Indexed"):
            self.recorder.event(
                job,
                "Warning",
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown",
            )
            return
        status = job.setdefault("status", {})
        status.setdefault("uncountedTerminatedPods", {})
        satisfied = self.expectations.satisfied(key)
        pods = await self._pods_for_job(job)
        now = self.wall.now()
        jc = SyncContext(
            job=job,
            pods=pods,
            active_pods=[p for p in pods if is_pod_active(p)],
            expected_rm_finalizers=set(self.finalizer_expectations.get(key, set())),
            now=now,
        )
        jc.ready = sum(1 for p in jc.active_pods if is_pod_ready(p))
        jc.terminating = sum(
            1
            for p in pods
            if _meta(p).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        )
        active = len(jc.active_pods)
        new_succeeded, new_failed = jc.new_finished_pods()
        jc.succeeded = (
            int(status.get("succeeded") or 0) + len(new_succeeded) + len(jc.uncounted_succeeded)
        )
        jc.failed = (
            int(status.get("failed") or 0)
            + jc.non_ignored_failed(new_failed)
            + len(jc.uncounted_failed)
        )
        if not status.get("startTime") and not suspended(job):
            status["startTime"] = rfc3339(now)
        jc.new_backoff = next_record(
            self.backoffs.get(key, BackoffRecord()), new_succeeded, new_failed
        )
        spec = _spec(job)
        manage_error: Exception | None = None
        exceeds_backoff = jc.failed > int(spec.get("backoffLimit") or 0)
        conditions = status.get("conditions") or []
        met = find_condition(conditions, "SuccessCriteriaMet")
        if met is not None and met.get("status") == "True":
            jc.finished = dict(met)
        if jc.finished is None:
            target = find_condition(conditions, "FailureTarget")
            if target is not None and target.get("status") == "True":
                jc.finished = condition(
                    "Failed", str(target.get("reason") or ""), str(target.get("message") or ""), now
                )
            else:
                message = self._fail_job_message(job, pods)
                if message is not None:
                    jc.finished = condition("FailureTarget", "PodFailurePolicy", message, now)
        if jc.finished is None:
            if exceeds_backoff or past_backoff_limit_on_failure(job, pods):
                jc.finished = condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    now,
                )
            elif self._past_active_deadline(job, now):
                jc.finished = condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    now,
                )
            elif spec.get("activeDeadlineSeconds") is not None and not suspended(job):
                start = parse_time(status.get("startTime")) or now
                remaining = float(spec["activeDeadlineSeconds"]) - (now - start).total_seconds()
                self.queue.add_after(key, remaining)
        if is_indexed(job):
            self._indexed_progress(jc, now)
        suspend_changed = False
        if jc.finished is not None:
            deleted_ready, deleted, err = await self._delete_active_pods(job, jc.active_pods)
            if deleted != active or not satisfied:
                jc.finished = None
            active -= deleted
            jc.terminating += deleted
            jc.ready -= deleted_ready
            manage_error = err
        else:
            manage_called = False
            if satisfied and not _meta(job).get("deletionTimestamp"):
                try:
                    active = await self._manage(job, jc, key, active)
                except Exception as err:  # reported after the status is written
                    manage_error = err
                    active = jc.active_after_manage
                manage_called = True
            completions = spec.get("completions")
            if completions is None:
                complete = jc.succeeded > 0 and active == 0
            else:
                complete = jc.succeeded >= int(completions) and active == 0
            if complete:
                jc.finished = condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                )
            elif manage_called:
                suspend_changed = self._suspend_condition(job, jc, now)
        needs_update = (
            suspend_changed
            or active != int(status.get("active") or 0)
            or jc.ready != status.get("ready")
            or jc.terminating != status.get("terminating")
        )
        status["active"] = active
        status["ready"] = jc.ready
        status["terminating"] = jc.terminating
        self.finalizer_expectations.setdefault(key, set())
        await track_status(self, jc, key, needs_update)
        for event_type, reason, message in jc.events:
            self.recorder.event(jc.job, event_type, reason, message)
        if manage_error is not None:
            raise manage_error

    def _suspend_condition(self, job: Object, jc: SyncContext, now: dt.datetime) -> bool:
        """Keep the Suspended condition in step; its event is sent once the status is written."""
        status = job["status"]
        conditions = status.setdefault("conditions", [])
        if suspended(job):
            changed = ensure_condition(
                conditions, "Suspended", "True", "JobSuspended", "Job suspended", now
            )
            if changed:
                jc.events.append(("Normal", "Suspended", "Job suspended"))
            return changed
        changed = ensure_condition(
            conditions, "Suspended", "False", "JobResumed", "Job resumed", now
        )
        if changed:
            jc.events.append(("Normal", "Resumed", "Job resumed"))
            # activeDeadlineSeconds counts the time a Job is continuously active.
            status["startTime"] = rfc3339(now)
        if not conditions:
            status.pop("conditions", None)
        return changed

    def _past_active_deadline(self, job: Object, now: dt.datetime) -> bool:
        deadline = _spec(job).get("activeDeadlineSeconds")
        start = parse_time((job.get("status") or {}).get("startTime"))
        if deadline is None or start is None or suspended(job):
            return False
        return (now - start).total_seconds() >= float(deadline)

    @staticmethod
    def _fail_job_message(job: Object, pods: list[Object]) -> str | None:
        policy = _spec(job).get("podFailurePolicy")
        if not policy:
            return None
        for pod in pods:
            if is_pod_failed(pod, job):
                found = pfp.match(policy, pod)
                if found.message is not None:
                    return found.message
        return None

    def _indexed_progress(self, jc: SyncContext, now: dt.datetime) -> None:
        """Succeeded (and, with backoffLimitPerIndex, failed) indexes; may finish the Job."""
        job = jc.job
        spec = _spec(job)
        completions = int(spec.get("completions") or 0)
        status = job["status"]
        jc.prev_succeeded = indexed.parse_intervals(status.get("completedIndexes"), completions)
        new = sorted(
            {
                ix
                for p in jc.pods
                if (p.get("status") or {}).get("phase") == "Succeeded"
                and has_finalizer(p)
                and 0 <= (ix := indexed.completion_index(p)) < completions
            }
        )
        jc.succeeded_indexes = indexed.with_indexes(jc.prev_succeeded, new)
        jc.succeeded = indexed.total(jc.succeeded_indexes)
        if spec.get("backoffLimitPerIndex") is None:
            return
        jc.failed_indexes = self._failed_indexes(jc, completions)
        if jc.finished is None:
            failed_total = indexed.total(jc.failed_indexes)
            max_failed = spec.get("maxFailedIndexes")
            if max_failed is not None and failed_total > int(max_failed):
                jc.finished = condition(
                    "FailureTarget",
                    "MaxFailedIndexesExceeded",
                    "Job has exceeded the specified maximal number of failed indexes",
                    now,
                )
            elif failed_total > 0 and failed_total + jc.succeeded >= completions:
                jc.finished = condition(
                    "FailureTarget", "FailedIndexes", "Job has failed indexes", now
                )

    def _failed_indexes(self, jc: SyncContext, completions: int) -> list[indexed.Interval]:
        job = jc.job
        prev = indexed.parse_intervals(job["status"].get("failedIndexes"), completions)
        limit = int(_spec(job).get("backoffLimitPerIndex") or 0)
        policy = _spec(job).get("podFailurePolicy")
        new: set[int] = set()
        for pod in jc.pods:
            ix = indexed.completion_index(pod)
            if ix == indexed.UNKNOWN or ix >= completions or not has_finalizer(pod):
                continue
            if not is_pod_failed(pod, job):
                continue
            found = pfp.match(policy, pod)
            if found.action == pfp.FAIL_INDEX or (
                found.count_failed and index_failure_count(pod) >= limit
            ):
                new.add(ix)
        return indexed.with_indexes(prev, sorted(new))

    # -- claiming --------------------------------------------------------------------------

    async def _pods_for_job(self, job: Object) -> list[Object]:
        """The pods this Job controls, adopting and releasing (ClaimPods with the finalizer)."""
        meta = _meta(job)
        namespace = str(meta.get("namespace") or "")
        try:
            reqs = from_label_selector(_spec(job).get("selector") or {})
        except SelectorError as err:
            raise ValueError(f"couldn't convert Job selector: {err}") from err
        pods = self.pod_lister.list(namespace)
        ref = controller_ref(job, API_VERSION, KIND)
        refs = RefManager(
            self.client,
            PODS,
            job,
            ref,
            matcher(reqs) if reqs else (lambda labels: False),
            recheck_owner(self.client, JOBS, job),
        )
        claimed = await refs.claim(pods)
        uid = meta.get("uid")
        result = []
        for pod in claimed:
            owned_before = any(r.get("uid") == uid for r in _meta(pod).get("ownerReferences") or [])
            if not owned_before and not has_finalizer(pod):
                pod = copy.deepcopy(pod)
                pod["metadata"].setdefault("finalizers", []).append(FINALIZER)
                with contextlib.suppress(APIError):
                    await self.client.patch(
                        PODS,
                        str(_meta(pod).get("name")),
                        {"metadata": {"finalizers": pod["metadata"]["finalizers"]}},
                        namespace,
                    )
            result.append(pod)
        return result


manager.register(JobController)
