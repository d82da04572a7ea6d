"""How the Job controller creates and deletes pods (upstream's manageJob and its helpers).

`JobPods` is mixed into `JobController`: the number of pods to run is
`min(parallelism, completions - succeeded)` (just `parallelism` without completions, until one
succeeds); a suspended Job runs none. Extra pods are deleted in upstream's order (unscheduled,
pending, not ready, then the newest first; for Indexed Jobs duplicated or out-of-range indexes
first); missing ones are created in slow-start batches from the template with the tracking
finalizer and the Job as controller, after the backoff of `backoff.py` since the last failure
(per index with `backoffLimitPerIndex`, the failure count carried in the pod's
`batch.kubernetes.io/job-index-failure-count` annotation). Creations and deletions are
recorded in the expectations first, so the next sync waits for the informer to see them.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import logging
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers.base import EventRecorder
from kube.controllers.expectations import ControllerExpectations
from kube.controllers.job import indexed
from kube.controllers.job.backoff import finished_time, remaining_for
from kube.controllers.job.tracking import FINALIZER, SyncContext, is_pod_failed, only_replace_failed
from kube.controllers.pods import (
    SLOW_START_INITIAL_BATCH_SIZE,
    SlowStartError,
    compare_for_deletion,
    controller_ref,
    is_pod_ready,
    pod_from_template,
    slow_start_batch,
)
from kube.controllers.walltime import WallClock

PODS = resource("pods")
API_VERSION, KIND = "batch/v1", "Job"
# Upstream's MaxPodCreateDeletePerSync.
MAX_POD_CREATE_DELETE_PER_SYNC = 500
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def is_indexed(job: Object) -> bool:
    return _spec(job).get("completionMode") == "Indexed"


def suspended(job: Object) -> bool:
    return bool(_spec(job).get("suspend"))


def _namespace_terminating(err: APIError) -> bool:
    causes = (err.details or {}).get("causes") or []
    return any(c.get("type") == NAMESPACE_TERMINATING_CAUSE for c in causes)


class JobPods:
    """Pod creation and deletion for the Job controller (see the module docstring)."""

    client: RESTClient
    recorder: EventRecorder
    expectations: ControllerExpectations
    wall: WallClock
    log: logging.Logger

    def _enqueue_delayed(self, key: str, delay: float) -> None:
        raise NotImplementedError

    async def _remove_finalizer(self, pod: Object) -> bool:
        """Drop the tracking finalizer (a 404 counts as done); False if it was not there."""
        meta = _meta(pod)
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER not in finalizers:
            return False
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [FINALIZER]}}
        try:
            await self.client.patch(
                PODS,
                str(meta.get("name")),
                patch,
                str(meta.get("namespace") or ""),
                patch_type="strategic",
            )
        except APIError as err:
            if err.code != 404:
                raise
        return True

    # -- pods ------------------------------------------------------------------------------

    def _deletion_order(self) -> functools.partial[int]:
        now = self.wall.now()
        return functools.partial(_compare_active, now=now)

    async def _delete_active_pods(
        self, job: Object, pods: list[Object]
    ) -> tuple[int, int, Exception | None]:
        """Delete `pods`, keeping their finalizers (tracking removes those)."""
        results = await asyncio.gather(
            *(self._delete_pod(job, p) for p in pods), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, Exception)]
        deleted = len(pods) - len(errors)
        ready = sum(1 for p in pods if is_pod_ready(p))
        return ready, deleted, errors[0] if errors else None

    async def _delete_pod(self, job: Object, pod: Object) -> None:
        meta = _meta(pod)
        try:
            await self.client.delete(PODS, str(meta.get("name")), str(meta.get("namespace") or ""))
        except APIError as err:
            if err.code == 404:
                return
            self.recorder.event(job, "Warning", "FailedDelete", f"Error deleting: {err}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {meta.get('name')}")

    async def _delete_job_pods(
        self, job: Object, key: str, pods: list[Object]
    ) -> tuple[int, int, Exception | None]:
        """Remove the finalizer, then delete (pods removed before they finished)."""

        async def one(pod: Object) -> None:
            try:
                await self._remove_finalizer(pod)
                await self._delete_pod(job, pod)
            except Exception:
                self.expectations.deletion_observed(key)
                raise

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        ready = sum(1 for p in pods if is_pod_ready(p))
        return ready, len(pods) - len(errors), errors[0] if errors else None

    def _pods_for_removal(self, job: Object, pods: list[Object], at_least: int) -> list[Object]:
        order = self._deletion_order()
        if is_indexed(job):
            remove, left = indexed.duplicated_for_removal(
                pods, int(_spec(job).get("completions") or 0), order
            )
        else:
            remove, left = [], list(pods)
        if len(remove) < at_least:
            left.sort(key=functools.cmp_to_key(order))
            remove.extend(left[: at_least - len(remove)])
        return remove

    async def _manage(self, job: Object, jc: SyncContext, key: str, active: int) -> int:
        """manageJob: create or delete pods; the number active afterwards."""
        spec = _spec(job)
        parallelism = int(spec.get("parallelism") or 0)
        jc.active_after_manage = active
        if suspended(job):
            victims = self._pods_for_removal(job, jc.active_pods, active)
            self.expectations.expect_deletions(key, len(victims))
            ready, removed, err = await self._delete_job_pods(job, key, victims)
            jc.terminating += removed
            jc.ready -= ready
            jc.active_after_manage = active - removed
            if err is not None:
                raise err
            return active - removed
        completions = spec.get("completions")
        if completions is None:
            want = active if jc.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(completions) - jc.succeeded, parallelism))
        remove_at_least = max(0, active - want)
        victims = self._pods_for_removal(job, jc.active_pods, remove_at_least)
        victims = victims[:MAX_POD_CREATE_DELETE_PER_SYNC]
        if victims:
            self.expectations.expect_deletions(key, len(victims))
            ready, removed, err = await self._delete_job_pods(job, key, victims)
            jc.terminating += removed
            jc.ready -= ready
            jc.active_after_manage = active - removed
            if err is not None:
                raise err
            return active - removed
        terminating = jc.terminating if only_replace_failed(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active
        per_index = spec.get("backoffLimitPerIndex") is not None
        if not per_index:
            remaining = jc.new_backoff.remaining(jc.now)
            if remaining > 0:
                self._enqueue_delayed(key, remaining)
                return active
        diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int] = []
        failure_counts: dict[int, int] = {}
        if is_indexed(job):
            busy = indexed.with_indexes(
                jc.succeeded_indexes,
                sorted(ix for f, last in jc.failed_indexes for ix in range(f, last + 1)),
            )
            indexes = indexed.first_pending(jc.active_pods, busy, diff, int(completions or 0))
            if per_index:
                indexes, failure_counts, wait = self._indexes_ready(jc, indexes)
                if not indexes and wait > 0:
                    self._enqueue_delayed(key, wait)
                    return active
            diff = len(indexes)
        if diff <= 0:
            return active
        return active + await self._create_pods(job, key, diff, indexes, failure_counts, jc)

    def _indexes_ready(
        self, jc: SyncContext, candidates: list[int]
    ) -> tuple[list[int], dict[int, int], float]:
        """Per-index backoff: the indexes whose last failure is old enough, their counts."""
        last_failed: dict[int, Object] = {}
        for pod in jc.pods:
            ix = indexed.completion_index(pod)
            if ix in candidates and is_pod_failed(pod, jc.job):
                seen = last_failed.get(ix)
                if seen is None or finished_time(seen) < finished_time(pod):
                    last_failed[ix] = pod
        ready: list[int] = []
        counts: dict[int, int] = {}
        wait: float | None = None
        for ix in candidates:
            last = last_failed.get(ix)
            if last is None:
                ready.append(ix)
                continue
            count = index_failure_count(last) + 1
            left = remaining_for(count, finished_time(last), jc.now)
            if left == 0:
                ready.append(ix)
                counts[ix] = count
            elif wait is None or left < wait:
                wait = left
        return ready, counts, wait or 0.0

    async def _create_pods(
        self,
        job: Object,
        key: str,
        count: int,
        indexes: list[int],
        failure_counts: dict[int, int],
        jc: SyncContext,
    ) -> int:
        """Create `count` pods (for `indexes` when Indexed) in slow-start batches."""
        meta = _meta(job)
        namespace = str(meta.get("namespace") or "")
        name = str(meta.get("name") or "")
        template = copy.deepcopy(_spec(job).get("template") or {})
        tmeta = template.setdefault("metadata", {})
        if is_indexed(job):
            indexed.add_index_env(template.setdefault("spec", {}))
        finalizers = list(tmeta.get("finalizers") or [])
        if FINALIZER not in finalizers:
            finalizers.append(FINALIZER)
        tmeta["finalizers"] = finalizers
        ref = controller_ref(job, API_VERSION, KIND)
        pending = list(indexes)
        attempts = [0]
        self.expectations.expect_creations(key, count)

        async def create_one() -> None:
            attempts[0] += 1
            pod = pod_from_template(template, name, ref)
            if pending:
                ix = pending.pop(0)
                pmeta = pod["metadata"]
                pmeta.setdefault("annotations", {})[indexed.COMPLETION_INDEX] = str(ix)
                pmeta.setdefault("labels", {})[indexed.COMPLETION_INDEX] = str(ix)
                if _spec(job).get("backoffLimitPerIndex") is not None:
                    pmeta["annotations"][indexed.INDEX_FAILURE_COUNT] = str(
                        failure_counts.get(ix, 0)
                    )
                pod["spec"]["hostname"] = f"{name}-{ix}"
                pmeta["generateName"] = indexed.generate_name(name, ix)
            try:
                created = await self.client.create(PODS, pod, namespace)
            except APIError as err:
                self.expectations.creation_observed(key)
                if _namespace_terminating(err):
                    return
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {err}")
                raise
            self.recorder.event(
                job, "Normal", "SuccessfulCreate", f"Created pod: {_meta(created).get('name')}"
            )

        try:
            return await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create_one)
        except SlowStartError as failed:
            # The pods never asked for will never be observed: stop expecting them.
            for _ in range(max(0, count - attempts[0])):
                self.expectations.creation_observed(key)
            jc.active_after_manage += failed.successes
            raise failed.error from None


def index_failure_count(pod: Object) -> int:
    raw = ((_meta(pod).get("annotations") or {}).get(indexed.INDEX_FAILURE_COUNT)) or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def _compare_active(a: Object, b: Object, now: dt.datetime) -> int:
    """controller.ActivePods order: the pod to delete first sorts first."""
    return compare_for_deletion((a, 0), (b, 0), now)
