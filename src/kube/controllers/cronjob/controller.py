"""The CronJob controller: a Job per due schedule time, and a bounded history of them.

Upstream's cronjob_controllerv2.go. One sync of a CronJob (`namespace/name`):

1. list its Jobs (those whose controller reference names it) from the Job informer;
2. clean up finished Jobs beyond `successfulJobsHistoryLimit` (3) and
   `failedJobsHistoryLimit` (1), oldest start first (SuccessfulDelete "Deleted job <name>");
3. reconcile `status.active` (object references) with the Jobs: a finished active Job leaves
   it (SawCompletedJob "Saw completed job: <name>, condition: Complete"), a vanished one too
   (MissingJob), an unknown running Job is reported (UnexpectedJob); `lastSuccessfulTime`
   follows the newest completion;
4. unless suspended or being deleted, find the most recent due time since the last schedule
   (or creation) — more than 100 missed ones earn a TooManyMissedTimes warning — and, if it is
   within `startingDeadlineSeconds` (else MissSchedule) and not already done, apply
   `concurrencyPolicy` (Forbid: skip while a Job runs, JobAlreadyActive; Replace: delete the
   running ones) and create the Job `<cronjob>-<scheduled time in minutes since the epoch>`
   from `jobTemplate`, owned by the CronJob, annotated
   `batch.kubernetes.io/cronjob-scheduled-timestamp` (RFC 3339 in the CronJob's zone);
   SuccessfulCreate "Created job <name>"; `status.lastScheduleTime` is the scheduled time;
5. write the status if it changed and requeue the key for the next due time (+100 ms) on the
   controller's clock — so a FakeClock drives it in tests without real waiting.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, object_key, split_key
from kube.controllers import manager
from kube.controllers.base import Controller, ControllerContext
from kube.controllers.cronjob.schedule import CronError, Schedule, parse, time_zone
from kube.controllers.pods import controller_of, controller_ref
from kube.controllers.walltime import WallClock, parse_time, rfc3339

CRONJOBS = resource("cronjobs")
JOBS = resource("jobs")
API_VERSION, KIND = "batch/v1", "CronJob"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# Upstream's nextScheduleDelta: wake a little after the due time, never just before it.
NEXT_SCHEDULE_DELTA = 0.1
TOO_MANY_MISSED = 100
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def finished_condition(job: Object) -> str | None:
    """Complete or Failed, whichever is True (jobutil.FinishedCondition)."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def job_name(cronjob: Object, scheduled: dt.datetime) -> str:
    """`<name>-<scheduled time in minutes since the epoch>` (getJobName)."""
    return f"{_meta(cronjob).get('name')}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cronjob: Object, scheduled: dt.datetime) -> Object:
    """getJobFromTemplate2: the Job for one scheduled time."""
    template = _spec(cronjob).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    zone = time_zone(str(_spec(cronjob).get("timeZone") or ""))
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = _rfc3339_in(scheduled, zone)
    meta: dict[str, Any] = {
        "name": job_name(cronjob, scheduled),
        "annotations": annotations,
        "ownerReferences": [controller_ref(cronjob, API_VERSION, KIND)],
    }
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _rfc3339_in(when: dt.datetime, zone: dt.tzinfo) -> str:
    """Go's time.RFC3339 in `zone`: `Z` for UTC, else the offset."""
    local = when.astimezone(zone)
    if local.utcoffset() == dt.timedelta(0) and zone is dt.UTC:
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Due:
    """mostRecentScheduleTime's answer."""

    earliest: dt.datetime
    most_recent: dt.datetime | None
    missed: int  # 0: none, else a rough count of missed times
    error: str | None = None


def most_recent_schedule_time(
    cronjob: Object, now: dt.datetime, schedule: Schedule, include_deadline: bool
) -> Due:
    """The last due time not after `now` since the last schedule (or creation)."""
    status = cronjob.get("status") or {}
    earliest = (
        parse_time(status.get("lastScheduleTime"))
        or parse_time(_meta(cronjob).get("creationTimestamp"))
        or now
    )
    deadline = _spec(cronjob).get("startingDeadlineSeconds")
    if include_deadline and deadline is not None:
        scheduling_deadline = now - dt.timedelta(seconds=int(deadline))
        earliest = max(earliest, scheduling_deadline)
    t1 = schedule.next(earliest)
    t2 = schedule.next(t1) if t1 is not None else None
    if t1 is not None and now < t1:
        return Due(earliest, None, 0)
    if t1 is not None and t2 is not None and now < t2:
        return Due(earliest, t1, 0)
    if t1 is None or t2 is None or round((t2 - t1).total_seconds()) < 1:
        return Due(earliest, None, 0, "time difference between two schedules is less than 1 second")
    between = round((t2 - t1).total_seconds())
    elapsed = int((now - t1).total_seconds())
    missed = elapsed // between + 1
    most_recent: dt.datetime | None = None
    t: dt.datetime | None = t1 + dt.timedelta(seconds=(missed - 2) * between)
    t = schedule.next(t) if t is not None else None
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next(t)
    return Due(earliest, most_recent, missed)


def next_schedule_delay(cronjob: Object, now: dt.datetime, schedule: Schedule) -> float | None:
    """Seconds until the next due time, plus the 100 ms delta (nextScheduleTimeDuration)."""
    due = most_recent_schedule_time(cronjob, now, schedule, False)
    base = now if due.error else (due.most_recent or (due.earliest if not due.missed else now))
    following = schedule.next(base)
    if following is None:
        return None
    return (following - now).total_seconds() + NEXT_SCHEDULE_DELTA


def _by_start_time(a: Object, b: Object) -> int:
    """byJobStartTime: started first (unstarted last), then by name."""
    sa = parse_time((a.get("status") or {}).get("startTime"))
    sb = parse_time((b.get("status") or {}).get("startTime"))
    if sa != sb:
        if sa is None:
            return 1
        if sb is None:
            return -1
        return -1 if sa < sb else 1
    na, nb = str(_meta(a).get("name")), str(_meta(b).get("name"))
    return (na > nb) - (na < nb)


class CronJobController(Controller):
    """Creates Jobs on schedule for every CronJob (upstream's ControllerV2)."""

    NAME = "cronjob"
    WORKERS_FLAG = "concurrent-cron-job-syncs"
    MAX_RETRIES = None

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.wall = WallClock(self.clock)

    def setup(self) -> None:
        informers = self.ctx.informers
        self.cronjobs = informers.informer(CRONJOBS)
        self.jobs = informers.informer(JOBS)
        self.cronjob_lister = self.cronjobs.lister()
        self.job_lister = self.jobs.lister()
        self.cronjobs.add_event_handler(
            EventHandler(
                on_add=self.enqueue, on_update=self._cronjob_updated, on_delete=self.enqueue
            )
        )
        self.jobs.add_event_handler(
            EventHandler(
                on_add=self._job_changed,
                on_update=self._job_updated,
                on_delete=self._job_deleted,
            )
        )

    # -- handlers --------------------------------------------------------------------------

    def _cronjob_of(self, job: Object) -> Object | None:
        ref = controller_of(job)
        if ref is None or ref.get("kind") != KIND:
            return None
        cronjob = self.cronjob_lister.get(str(ref.get("name")), str(_meta(job).get("namespace")))
        if cronjob is None or _meta(cronjob).get("uid") != ref.get("uid"):
            return None
        return cronjob

    def _job_changed(self, job: Object) -> None:
        if _meta(job).get("deletionTimestamp"):
            self._job_deleted(job)
            return
        cronjob = self._cronjob_of(job)
        if cronjob is not None:
            self.enqueue(cronjob)

    def _job_updated(self, old: Object, cur: Object) -> None:
        if _meta(old).get("resourceVersion") == _meta(cur).get("resourceVersion"):
            return
        old_ref, cur_ref = controller_of(old), controller_of(cur)
        if old_ref != cur_ref and old_ref is not None:
            previous = self._cronjob_of(old)
            if previous is not None:
                self.enqueue(previous)
        self._job_changed(cur)

    def _job_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        job = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        cronjob = self._cronjob_of(job)
        if cronjob is not None:
            self.enqueue(cronjob)

    def _cronjob_updated(self, old: Object, cur: Object) -> None:
        old_spec, cur_spec = _spec(old), _spec(cur)
        if old_spec.get("schedule") != cur_spec.get("schedule") or old_spec.get(
            "timeZone"
        ) != cur_spec.get("timeZone"):
            try:
                schedule = parse(self._format_schedule(cur, report=False))
            except CronError:
                self.recorder.event(
                    cur,
                    "Warning",
                    "UnParseableCronJobSchedule",
                    f"unparseable schedule for cronjob: {cur_spec.get('schedule')}",
                )
                return
            delay = next_schedule_delay(cur, self.wall.now(), schedule)
            self.enqueue_after(object_key(cur), delay if delay is not None else 0.0)
            return
        self.enqueue(cur)

    # -- sync ------------------------------------------------------------------------------

    def _format_schedule(self, cronjob: Object, *, report: bool = True) -> str:
        spec = _spec(cronjob)
        schedule = str(spec.get("schedule") or "")
        if "TZ" in schedule:
            if report:
                self.recorder.event(
                    cronjob,
                    "Warning",
                    "UnsupportedSchedule",
                    f'CRON_TZ or TZ used in schedule "{schedule}" is not officially supported, '
                    "see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ "
                    "for more details",
                )
            return schedule
        if spec.get("timeZone") is not None:
            return f"TZ={spec['timeZone']} {schedule}"
        return schedule

    def _jobs_of(self, cronjob: Object) -> list[Object]:
        name = _meta(cronjob).get("name")
        result = []
        for job in self.job_lister.list(str(_meta(cronjob).get("namespace") or "")):
            ref = controller_of(job)
            if ref is not None and ref.get("kind") == KIND and ref.get("name") == name:
                result.append(job)
        return result

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        shared = self.cronjob_lister.get(name, namespace)
        if shared is None:
            return
        jobs = self._jobs_of(shared)
        cronjob = copy.deepcopy(shared)
        cronjob.setdefault("status", {})
        changed = await self._cleanup_finished(cronjob, jobs)
        requeue: float | None = None
        error: Exception | None = None
        try:
            requeue, synced = await self._sync_cronjob(cronjob, jobs)
            changed = changed or synced
        except Exception as err:  # the status so far is still written
            error = err
        if changed:
            status = {k: v for k, v in cronjob["status"].items() if v not in (None, [])}
            cronjob["status"] = status
            await self.client.update(CRONJOBS, cronjob, subresource="status")
        if requeue is not None:
            self.enqueue_after(key, requeue)
            return
        if error is not None:
            raise error

    async def _cleanup_finished(self, cronjob: Object, jobs: list[Object]) -> bool:
        spec = _spec(cronjob)
        succeeded_limit = spec.get("successfulJobsHistoryLimit")
        failed_limit = spec.get("failedJobsHistoryLimit")
        if succeeded_limit is None and failed_limit is None:
            return False
        succeeded = [j for j in jobs if finished_condition(j) == "Complete"]
        failed = [j for j in jobs if finished_condition(j) == "Failed"]
        changed = False
        for group, limit in ((succeeded, succeeded_limit), (failed, failed_limit)):
            if limit is None or len(group) <= int(limit):
                continue
            group.sort(key=functools.cmp_to_key(_by_start_time))
            for job in group[: len(group) - int(limit)]:
                if await self._delete_job(cronjob, job):
                    changed = True
        return changed

    async def _delete_job(self, cronjob: Object, job: Object) -> bool:
        meta = _meta(job)
        try:
            await self.client.delete(
                JOBS,
                str(meta.get("name")),
                str(meta.get("namespace") or ""),
                propagation_policy="Background",
            )
        except APIError as err:
            self.recorder.event(cronjob, "Warning", "FailedDelete", f"Deleted job: {err}")
            return False
        self._remove_active(cronjob, str(meta.get("uid") or ""))
        self.recorder.event(
            cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta.get('name')}"
        )
        return True

    @staticmethod
    def _remove_active(cronjob: Object, uid: str) -> None:
        status = cronjob["status"]
        status["active"] = [r for r in status.get("active") or [] if r.get("uid") != uid]

    async def _sync_cronjob(self, cronjob: Object, jobs: list[Object]) -> tuple[float | None, bool]:
        """syncCronJob: (seconds until the next sync, whether the status changed)."""
        now = self.wall.now()
        status = cronjob["status"]
        changed = False
        children = set()
        for job in jobs:
            uid = str(_meta(job).get("uid") or "")
            children.add(uid)
            in_active = any(r.get("uid") == uid for r in status.get("active") or [])
            done = finished_condition(job)
            if not in_active and done is None:
                fresh = await self.client.get(
                    CRONJOBS, str(_meta(cronjob).get("name")), str(_meta(cronjob).get("namespace"))
                )
                if any(
                    r.get("uid") == uid for r in (fresh.get("status") or {}).get("active") or []
                ):
                    cronjob.clear()
                    cronjob.update(copy.deepcopy(fresh))
                    cronjob.setdefault("status", {})
                    status = cronjob["status"]
                    continue
                self.recorder.event(
                    cronjob,
                    "Warning",
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: "
                    f"{_meta(job).get('name')}",
                )
            elif in_active and done is not None:
                self._remove_active(cronjob, uid)
                self.recorder.event(
                    cronjob,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {_meta(job).get('name')}, condition: {done}",
                )
                changed = True
            elif done == "Complete":
                completed = parse_time((job.get("status") or {}).get("completionTime"))
                last = parse_time(status.get("lastSuccessfulTime"))
                if completed is not None and (last is None or completed > last):
                    status["lastSuccessfulTime"] = rfc3339(completed)
                    changed = True
        for ref in list(status.get("active") or []):
            if ref.get("uid") in children:
                continue
            try:
                await self.client.get(JOBS, str(ref.get("name")), str(ref.get("namespace")))
            except APIError as err:
                if err.code != 404:
                    raise
                self.recorder.event(
                    cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}"
                )
                self._remove_active(cronjob, str(ref.get("uid") or ""))
                changed = True
        if _meta(cronjob).get("deletionTimestamp"):
            return None, changed
        spec = _spec(cronjob)
        zone_name = spec.get("timeZone")
        if zone_name is not None:
            try:
                time_zone(str(zone_name))
            except CronError as err:
                self.recorder.event(
                    cronjob, "Warning", "UnknownTimeZone", f'invalid timeZone: "{zone_name}": {err}'
                )
                return None, changed
        if spec.get("suspend"):
            return None, changed
        try:
            schedule = parse(self._format_schedule(cronjob))
        except CronError as err:
            self.recorder.event(
                cronjob,
                "Warning",
                "UnparseableSchedule",
                f'unparseable schedule: "{spec.get("schedule")}" : {err}',
            )
            return None, changed
        due = most_recent_schedule_time(cronjob, now, schedule, True)
        if due.error is not None:
            self.recorder.event(
                cronjob,
                "Warning",
                "InvalidSchedule",
                f"invalid schedule: {spec.get('schedule')} : {due.error}",
            )
            return None, changed
        if due.missed > TOO_MANY_MISSED and due.most_recent is not None:
            self.recorder.event(
                cronjob,
                "Warning",
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                "or check clock skew",
            )
        scheduled = due.most_recent
        if scheduled is None or scheduled > now:
            return next_schedule_delay(cronjob, now, schedule), changed
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < now:
            self.recorder.event(
                cronjob,
                "Warning",
                "MissSchedule",
                "Missed scheduled time to start a job: "
                + scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            )
            return next_schedule_delay(cronjob, now, schedule), changed
        name = job_name(cronjob, scheduled)
        if (
            any(r.get("name") == name for r in status.get("active") or [])
            or parse_time(status.get("lastScheduleTime")) == scheduled
        ):
            return next_schedule_delay(cronjob, now, schedule), changed
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status.get("active"):
            self.recorder.event(
                cronjob,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy "
                "is Forbid",
            )
            return next_schedule_delay(cronjob, now, schedule), changed
        if policy == "Replace":
            for ref in list(status.get("active") or []):
                try:
                    job = await self.client.get(
                        JOBS, str(ref.get("name")), str(ref.get("namespace"))
                    )
                except APIError as err:
                    self.recorder.event(cronjob, "Warning", "FailedGet", f"Get job: {err}")
                    raise
                if not await self._delete_job(cronjob, job):
                    raise RuntimeError(
                        f"could not replace job {ref.get('namespace')}/{ref.get('name')}"
                    )
                changed = True
        created = await self._create_job(cronjob, scheduled)
        if created is None:
            return None, changed
        cmeta = _meta(created)
        status.setdefault("active", []).append(
            {
                "kind": "Job",
                "namespace": cmeta.get("namespace"),
                "name": cmeta.get("name"),
                "uid": cmeta.get("uid"),
                "apiVersion": "batch/v1",
                "resourceVersion": cmeta.get("resourceVersion"),
            }
        )
        status["lastScheduleTime"] = rfc3339(scheduled)
        return next_schedule_delay(cronjob, now, schedule), True

    async def _create_job(self, cronjob: Object, scheduled: dt.datetime) -> Object | None:
        """Create the Job; None when there is nothing to record (someone else's Job)."""
        namespace = str(_meta(cronjob).get("namespace") or "")
        request = job_from_template(cronjob, scheduled)
        try:
            created = await self.client.create(JOBS, request, namespace)
        except APIError as err:
            causes = (err.details or {}).get("causes") or []
            if any(c.get("type") == NAMESPACE_TERMINATING_CAUSE for c in causes):
                raise
            if err.code != 409:
                self.recorder.event(
                    cronjob, "Warning", "FailedCreate", f"Error creating job: {err}"
                )
                raise
            existing = await self.client.get(JOBS, request["metadata"]["name"], namespace)
            ref = controller_of(existing)
            if ref is None or ref.get("uid") != _meta(cronjob).get("uid"):
                return None
            uid = _meta(existing).get("uid")
            if any(r.get("uid") == uid for r in cronjob["status"].get("active") or []):
                return None
            return existing
        self.recorder.event(
            cronjob, "Normal", "SuccessfulCreate", f"Created job {_meta(created).get('name')}"
        )
        return created


manager.register(CronJobController)
