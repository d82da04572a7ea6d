"""Conversion between the versions a kind is served in and the version it is stored in.

kube-apiserver stores each kind in one version and converts on the way in and out; two groups
can even share storage. Here that matters for `events.k8s.io/v1` Events, which are core `v1`
Events in storage (upstream's pkg/apis/events/v1 conversion): the same object reads in either
group, with these fields renamed and everything else (`reason`, `type`, `eventTime`,
`series`, `action`, `related`, `reportingInstance`, metadata) as is.

A converter takes and returns a whole object dict (a new one; its argument is not changed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from kube.api.meta import Object

Converter = Callable[[Object], Object]

# events.k8s.io/v1 field -> core/v1 field.
EVENT_FIELDS: Final = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
)


def _rename(obj: Object, pairs: tuple[tuple[str, str], ...], api_version: str) -> Object:
    out = dict(obj)
    for source, target in pairs:
        out.pop(target, None)
        if source in obj:
            out[target] = out.pop(source)
    out["apiVersion"] = api_version
    return out


def event_to_core(obj: Object) -> Object:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as."""
    return _rename(obj, EVENT_FIELDS, "v1")


def event_from_core(obj: Object) -> Object:
    """A stored core/v1 Event as events.k8s.io/v1 serves it."""
    swapped = tuple((core, new) for new, core in EVENT_FIELDS)
    return _rename(obj, swapped, "events.k8s.io/v1")


# (group, version, kind) served -> (to storage, from storage).
CONVERTERS: Final[dict[tuple[str, str, str], tuple[Converter, Converter]]] = {
    ("events.k8s.io", "v1", "Event"): (event_to_core, event_from_core),
}
