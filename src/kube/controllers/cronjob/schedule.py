"""CronJob schedules: which times a Job is due, as robfig/cron (what upstream uses) says.

`parse(spec)` accepts exactly what upstream's `cron.ParseStandard` accepts — the acceptance
and the error texts are `kube.api.validation.cron.parse_standard`'s, the same check the API
server applies — and returns a `Schedule` whose `next(t)` is the first due time strictly after
`t`:

- five fields (minute, hour, day of month, month, day of week) with `*`, `?`, ranges, steps,
  lists and month/day names; day of month and day of week are OR-ed when both are restricted
  and AND-ed when either is `*` or `?` (robfig's star bit, Vixie cron's rule);
- descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`,
  and `@every <duration>` (a constant delay, whole seconds, at least one);
- a `TZ=<zone>` / `CRON_TZ=<zone>` prefix. The API server rejects it in new CronJobs
  ("cannot use TZ or CRON_TZ in schedule, use timeZone field instead"); the controller still
  honours it in old objects (and says so with an UnsupportedSchedule event), while
  `spec.timeZone` (an IANA name, loaded with zoneinfo) is the supported way.

Without a zone the schedule runs in UTC (upstream: the controller-manager's local zone, UTC
in its images). The time arithmetic (months of different lengths, DST) is `croniter`'s; the
expression handed to it is rebuilt from the parsed fields so that its day-of-month/day-of-week
rule is robfig's.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Protocol

from croniter import CroniterBadDateError, croniter

from kube.api.validation.cron import CronError, parse_standard

__all__ = ["CronError", "Schedule", "parse", "time_zone"]

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")


class Schedule(Protocol):
    def next(self, after: dt.datetime) -> dt.datetime | None:
        """The first due time strictly after `after`; None if there is none (e.g. 30 Feb)."""
        ...


@dataclass(frozen=True)
class CronSchedule:
    """A five-field schedule in a time zone."""

    expression: str
    zone: dt.tzinfo

    def next(self, after: dt.datetime) -> dt.datetime | None:
        start = after.astimezone(self.zone)
        try:
            found = croniter(self.expression, start).get_next(dt.datetime)
        except CroniterBadDateError:
            return None
        assert isinstance(found, dt.datetime)
        return found.astimezone(dt.UTC)


@dataclass(frozen=True)
class EverySchedule:
    """`@every <duration>`: robfig's ConstantDelaySchedule (whole seconds, at least one)."""

    delay: int

    def next(self, after: dt.datetime) -> dt.datetime | None:
        return after.replace(microsecond=0) + dt.timedelta(seconds=self.delay)


def time_zone(name: str) -> dt.tzinfo:
    """An IANA zone by name (`""` and `UTC` are UTC); CronError as Go's LoadLocation fails."""
    if name in ("", "UTC"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"unknown time zone {name}") from None


def go_duration_seconds(text: str) -> float:
    """Go's time.ParseDuration (validated beforehand by parse_standard) in seconds."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    total = 0.0
    for number, unit in _DURATION_PART.findall(body):
        total += float(number or 0) * _DURATION_UNITS[unit]
    return sign * total


def _field_text(field: str, values: set[int], low: int, high: int) -> str:
    """The field for croniter: `*` when robfig sets its star bit (or all values), else a list."""
    star = False
    for item in field.split(","):
        range_part, _, step = item.partition("/")
        if range_part.split("-")[0] in ("*", "?") and (not step or int(step) <= 1):
            star = True
    if star or values == set(range(low, high + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def parse(spec: str) -> Schedule:
    """The schedule of `spec`; CronError (robfig's message) if upstream would reject it."""
    fields = parse_standard(spec)
    zone: dt.tzinfo = dt.UTC
    body = spec
    if spec.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, body = spec.partition(" ")
        zone = time_zone(prefix.partition("=")[2])
        body = body.strip()
    if body.startswith("@every "):
        seconds = go_duration_seconds(body[len("@every ") :].strip())
        return EverySchedule(max(1, int(seconds)))
    if body in _DESCRIPTORS:
        return CronSchedule(_DESCRIPTORS[body], zone)
    assert fields is not None
    texts = body.split()
    parts = [
        _field_text(text, values, low, high)
        for text, values, (low, high) in zip(texts, fields, _FIELD_RANGES, strict=True)
    ]
    return CronSchedule(" ".join(parts), zone)
