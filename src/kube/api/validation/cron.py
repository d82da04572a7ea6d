"""CronJob schedules, checked as the CronJob validation does: with robfig/cron's standard parser.

`parse_standard(spec)` accepts what `cron.ParseStandard` (github.com/robfig/cron/v3) accepts
and raises `CronError` with its message otherwise:

- five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or `jan`..`dec`)
  and day of week (0-6 or `sun`..`sat`); each a comma list of `*`, `?`, `N`, `N-M`, with an
  optional `/step` (`N/step` runs from N to the field's maximum);
- descriptors: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
  `@hourly`, and `@every <Go duration>`;
- an optional `TZ=<zone>` or `CRON_TZ=<zone>` prefix naming an IANA time zone.

It returns the parsed fields as sets of values (descriptors as None), which is what the
CronJob controller would need to compute the next run.
"""

from __future__ import annotations

import re
import zoneinfo

from kube.api.errors import go_quote


class CronError(ValueError):
    """A schedule robfig/cron rejects; the message is its error text."""


# (minimum, maximum, names) per field, as robfig's bounds.
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_BOUNDS: tuple[tuple[int, int, dict[str, int] | None], ...] = (
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MAX_INT64 = 2**63 - 1


def _atoi(expr: str) -> int:
    """Go's `strconv.Atoi` with its error text."""
    prefix = f"failed to parse int from {expr}: strconv.Atoi: parsing {go_quote(expr)}"
    if not re.fullmatch(r"[+-]?[0-9]+", expr):
        raise CronError(f"{prefix}: invalid syntax")
    value = int(expr)
    if not -_MAX_INT64 - 1 <= value <= _MAX_INT64:
        raise CronError(f"{prefix}: value out of range")
    return value


def _must_parse_int(expr: str) -> int:
    value = _atoi(expr)
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {expr}")
    return value


def _int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _must_parse_int(expr)


def _range(expr: str, low: int, high: int, names: dict[str, int] | None) -> set[int]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        if single:
            end = high
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step))


_DURATION_UNITS = ("ns", "us", "µs", "μs", "ms", "s", "m", "h")
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def check_go_duration(text: str) -> None:
    """Go's `time.ParseDuration` acceptance, raising with its message."""
    quoted = go_quote(text)
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return
    if not body:
        raise CronError(f"time: invalid duration {quoted}")
    pos = 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        assert match is not None
        number, unit = match.groups()
        if not number or number == ".":
            raise CronError(f"time: invalid duration {quoted}")
        if not unit:
            raise CronError(f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS:
            raise CronError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        pos = match.end()


def parse_standard(spec: str) -> list[set[int]] | None:
    """The minute, hour, day, month and weekday sets of `spec`; None for a descriptor."""
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        zone = spec[spec.index("=") + 1 : space if space >= 0 else len(spec)]
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise CronError(f"provided bad location {zone}: unknown time zone {zone}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            try:
                check_go_duration(spec[len("@every ") :])
            except CronError as err:
                raise CronError(f"failed to parse duration {spec}: {err}") from None
            return None
        raise CronError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = []
    for text, (low, high, names) in zip(fields, _BOUNDS, strict=True):
        values: set[int] = set()
        for expr in (e for e in text.split(",") if e):
            values |= _range(expr, low, high, names)
        parsed.append(values)
    return parsed
