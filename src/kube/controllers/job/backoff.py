"""The delay before a Job replaces failed pods (upstream's backoff_utils.go).

Per Job the controller remembers how many pods failed since the last success and when the
last of them finished. The next pod may be created `10 s * 2^(failures-1)` (at most 6 min)
after that failure; until then the sync requeues itself for the remaining time. A pod's
finish time is the latest `finishedAt` of its containers, else the time its Ready condition
turned False (what the kubelet does on the way to a terminal phase), else its deletion time
less its grace period, else its creation time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kube.api.meta import Object
from kube.controllers.walltime import parse_time

DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
_EPOCH = dt.datetime.fromtimestamp(0, dt.UTC)


@dataclass(frozen=True)
class BackoffRecord:
    failures_after_last_success: int = 0
    last_failure_time: dt.datetime | None = None

    def remaining(self, now: dt.datetime) -> float:
        """Seconds still to wait before creating pods (0: create now)."""
        return remaining_for(self.failures_after_last_success, self.last_failure_time, now)


def remaining_for(failures: int, last_failure: dt.datetime | None, now: dt.datetime) -> float:
    if failures == 0 or last_failure is None:
        return 0.0
    delay = DEFAULT_BACKOFF
    for _ in range(1, failures):
        delay *= 2
        if delay >= MAX_BACKOFF:
            delay = MAX_BACKOFF
            break
    elapsed = (now - last_failure).total_seconds()
    return 0.0 if delay < elapsed else delay - elapsed


def _containers_finished(pod: Object) -> dt.datetime | None:
    latest: dt.datetime | None = None
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        finished = parse_time(terminated.get("finishedAt"))
        if finished is None:
            return None
        if latest is None or latest < finished:
            latest = finished
    return latest


def finished_time(pod: Object) -> dt.datetime:
    """When the pod finished, by upstream's lookups (see the module docstring)."""
    found = _containers_finished(pod)
    if found is not None:
        return found
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "False":
            when = parse_time(cond.get("lastTransitionTime"))
            if when is not None:
                return when
    meta = pod.get("metadata") or {}
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None:
        grace = int(meta.get("deletionGracePeriodSeconds") or 0)
        return deleted - dt.timedelta(seconds=grace)
    return parse_time(meta.get("creationTimestamp")) or _EPOCH


def next_record(
    old: BackoffRecord, new_succeeded: list[Object], new_failed: list[Object]
) -> BackoffRecord:
    """The record after this sync's newly finished pods (newBackoffRecord)."""
    if not new_failed:
        return BackoffRecord() if new_succeeded else old
    failed_times = sorted(finished_time(p) for p in new_failed)
    if not new_succeeded:
        return BackoffRecord(old.failures_after_last_success + len(failed_times), failed_times[-1])
    last_success = max(finished_time(p) for p in new_succeeded)
    after = [t for t in failed_times if t > last_success]
    return BackoffRecord(len(after), after[-1] if after else None)
