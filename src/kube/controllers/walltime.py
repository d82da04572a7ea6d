"""Wall-clock time that follows the controller's injected clock.

`Clock` (kube.client.clock) is monotonic: only differences mean anything. Controllers that
compare against timestamps written in objects (a Job's `startTime`, a CronJob's schedule, a
finished Job's `completionTime`) need wall time. `WallClock` anchors the injected clock to the
wall clock once, then moves with it: with `RealClock` that is the real time; with `FakeClock`
the wall time advances exactly when the test advances the fake clock, so "an hour later" takes
no real time and is deterministic.
"""

from __future__ import annotations

import datetime as dt
import time

from kube.api.meta import parse_rfc3339
from kube.client.clock import Clock


class WallClock:
    """UTC wall time as `anchor + (clock.now() - clock reading at the anchor)`."""

    def __init__(self, clock: Clock, anchor: float | None = None) -> None:
        self.clock = clock
        self._wall0 = time.time() if anchor is None else anchor
        self._mono0 = clock.now()

    def timestamp(self) -> float:
        """Seconds since the epoch."""
        return self._wall0 + (self.clock.now() - self._mono0)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp(), dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    """Kubernetes' wire form of a metav1.Time: UTC, whole seconds."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> dt.datetime | None:
    """A metav1.Time from the wire, or None when absent or malformed."""
    if not text:
        return None
    try:
        parsed = parse_rfc3339(str(text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
