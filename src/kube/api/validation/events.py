"""Validation of Events, as upstream's pkg/apis/core/validation/events.go.

Both groups store one kind (kube.api.conversion): the checks run on the core/v1 view of the
object, with upstream's paths (`involvedObject.namespace`, `message`, `count`, ... whichever
group was asked).

- core/v1 (`legacy`): an Event without `eventTime` (client-go's tools/record) needs only a
  namespace that agrees with its `involvedObject`; one with `eventTime` also needs the
  reporting controller (`reportingComponent`) and instance, `action` and `reason`, within their
  length limits.
- events.k8s.io/v1 adds, on create, `eventTime`, a `type` of Normal or Warning, a `series` with a
  count of at least 2 and a `lastObservedTime`, and the deprecated fields unset; on update,
  everything but the series and the metadata is immutable.
"""

from __future__ import annotations

from typing import Any

from kube.api.conversion import event_to_core
from kube.api.errors import Cause
from kube.api.selectors import dns1123_subdomain_errors, qualified_name_errors
from kube.api.validation import field
from kube.api.validation.field import as_dict, as_int, as_str

Object = dict[str, Any]

REPORTING_INSTANCE_LENGTH_LIMIT = 128
ACTION_LENGTH_LIMIT = 128
REASON_LENGTH_LIMIT = 128
NOTE_LENGTH_LIMIT = 1024
EVENT_TYPES = ("Normal", "Warning")
# What an events.k8s.io/v1 update may not change (upstream's ValidateEventUpdate, in order).
IMMUTABLE = (
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "type",
    "eventTime",
    "action",
    "related",
    "reportingComponent",
    "reportingInstance",
)


def validate_event(obj: Object, old: Object | None) -> list[Cause]:
    """A core/v1 Event: upstream keeps its legacy checks only, for old clients."""
    return _legacy(obj, reporting_path="reportingComponent")


def validate_events_v1_event(obj: Object, old: Object | None) -> list[Cause]:
    """An events.k8s.io/v1 Event: the legacy checks, then the strict ones."""
    event = event_to_core(obj)
    causes = _legacy(event, reporting_path="reportingController")
    if old is None:
        causes.extend(_series(event))
        if not event.get("eventTime"):
            causes.append(field.required("eventTime"))
        kind = as_str(event.get("type"))
        if kind not in EVENT_TYPES:
            causes.append(field.invalid("type", "", f"has invalid value: {kind}"))
        for name in ("firstTimestamp", "lastTimestamp"):
            if event.get(name):
                causes.append(field.invalid(name, "", "needs to be unset"))
        if as_int(event.get("count")):
            causes.append(field.invalid("count", "", "needs to be unset"))
        source = as_dict(event.get("source"))
        if source.get("component") or source.get("host"):
            causes.append(field.invalid("source", "", "needs to be unset"))
        return causes
    before = event_to_core(old)
    if event.get("series") != before.get("series"):
        causes.extend(_series(event))
    shown = {"reportingComponent": "reportingController"}
    for name in IMMUTABLE:
        causes.extend(field.immutable(shown.get(name, name), event.get(name), before.get(name)))
    return causes


def _legacy(event: Object, *, reporting_path: str) -> list[Cause]:
    causes: list[Cause] = []
    namespace = as_str(as_dict(event.get("metadata")).get("namespace"))
    involved = as_str(as_dict(event.get("involvedObject")).get("namespace"))
    mismatch = field.invalid("involvedObject.namespace", involved, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved and namespace not in ("", "default")) or (
            involved and namespace != involved
        ):
            causes.append(mismatch)
    else:
        if not involved and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        controller = as_str(event.get("reportingComponent"))
        if not controller:
            causes.append(field.required(reporting_path))
        causes.extend(
            field.invalid(reporting_path, controller, m) for m in qualified_name_errors(controller)
        )
        causes.extend(_bounded(event, "reportingInstance", REPORTING_INSTANCE_LENGTH_LIMIT))
        causes.extend(_bounded(event, "action", ACTION_LENGTH_LIMIT))
        causes.extend(_bounded(event, "reason", REASON_LENGTH_LIMIT))
        if len(as_str(event.get("message"))) > NOTE_LENGTH_LIMIT:
            detail = f"can have at most {NOTE_LENGTH_LIMIT} characters"
            causes.append(field.invalid("message", "", detail))
    causes.extend(
        field.invalid("namespace", namespace, m) for m in dns1123_subdomain_errors(namespace)
    )
    return causes


def _bounded(event: Object, name: str, limit: int) -> list[Cause]:
    value = as_str(event.get(name))
    if not value:
        return [field.required(name)]
    if len(value) > limit:
        return [field.invalid(name, "", f"can have at most {limit} characters")]
    return []


def _series(event: Object) -> list[Cause]:
    if event.get("series") is None:
        return []
    series = as_dict(event.get("series"))
    causes: list[Cause] = []
    if (as_int(series.get("count")) or 0) < 2:
        causes.append(field.invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(field.required("series.lastObservedTime"))
    return causes
