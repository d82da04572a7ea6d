"""The ttl-after-finished controller: deletes finished Jobs once their TTL has passed.

Upstream's pkg/controller/ttlafterfinished. A Job with `spec.ttlSecondsAfterFinished` whose
Complete or Failed condition is True expires `ttlSecondsAfterFinished` seconds after that
condition's `lastTransitionTime`. Until then its key is requeued for the time left (a delayed
add on the controller's clock, so a FakeClock drives it in tests); once expired, the Job is
read fresh from the API server (a cached copy may be stale: the TTL may have been changed or
the Job recreated), checked again, and deleted with `propagationPolicy: Foreground` and a uid
precondition, so its pods go first (the garbage collector does that part) and a new Job with
the same name is never deleted by mistake.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.informer import EventHandler, object_key, split_key
from kube.controllers import manager
from kube.controllers.base import Controller, ControllerContext
from kube.controllers.walltime import WallClock, parse_time

JOBS = resource("jobs")


def _finished_condition(job: Object) -> dict[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return dict(cond)
    return None


def needs_cleanup(job: Object) -> bool:
    """A TTL is set and the Job has finished."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    return ttl is not None and _finished_condition(job) is not None


def finish_time(job: Object) -> dt.datetime:
    """When the Job finished (jobFinishTime); ValueError if that is not recorded."""
    cond = _finished_condition(job) or {}
    when = parse_time(cond.get("lastTransitionTime"))
    if when is None:
        meta = job.get("metadata") or {}
        raise ValueError(
            f"unable to find the time when the Job {meta.get('namespace')}/{meta.get('name')} "
            "finished"
        )
    return when


def time_left(job: Object, now: dt.datetime) -> float:
    """Seconds until the Job expires (<= 0: expired)."""
    ttl = int((job.get("spec") or {}).get("ttlSecondsAfterFinished") or 0)
    return (finish_time(job) + dt.timedelta(seconds=ttl) - now).total_seconds()


class TTLAfterFinishedController(Controller):
    """Deletes finished Jobs whose `ttlSecondsAfterFinished` has passed."""

    NAME = "ttl-after-finished"
    WORKERS_FLAG = "concurrent-ttl-after-finished-syncs"
    MAX_RETRIES = None

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.wall = WallClock(self.clock)

    def setup(self) -> None:
        self.jobs = self.ctx.informers.informer(JOBS)
        self.job_lister = self.jobs.lister()
        self.jobs.add_event_handler(
            EventHandler(on_add=self._changed, on_update=lambda old, new: self._changed(new))
        )

    def _changed(self, job: Object) -> None:
        if not (job.get("metadata") or {}).get("deletionTimestamp") and needs_cleanup(job):
            self.enqueue(job)

    def _expired(self, job: Object, key: str) -> bool:
        """processTTL: True once expired; otherwise requeue for the time left."""
        if (job.get("metadata") or {}).get("deletionTimestamp") or not needs_cleanup(job):
            return False
        now = self.wall.now()
        if finish_time(job) > now:
            self.log.info("Job %s finished in the future, likely time skew; cleanup deferred", key)
        left = time_left(job, now)
        if left <= 0:
            return True
        self.enqueue_after(key, left)
        return False

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.job_lister.get(name, namespace)
        if cached is None or not self._expired(cached, key):
            return
        try:
            fresh = await self.client.get(JOBS, name, namespace)
        except APIError as err:
            if err.code == 404:
                return
            raise
        if not self._expired(fresh, object_key(fresh)):
            return
        uid = str((fresh.get("metadata") or {}).get("uid") or "")
        try:
            await self.client.delete(
                JOBS,
                name,
                namespace,
                propagation_policy="Foreground",
                preconditions={"uid": uid},
            )
        except APIError as err:
            if err.code != 404:
                raise


manager.register(TTLAfterFinishedController)
