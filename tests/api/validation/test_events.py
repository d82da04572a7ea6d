"""Validation of Events, core/v1 and events.k8s.io/v1 (upstream's events.go messages)."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api.validation import validate

NOW = "2026-11-24T12:00:00.000000Z"


def v1_event(**fields: Any) -> dict[str, Any]:
    """What the events.k8s.io/v1 broadcaster (kube.client.eventsv1) writes."""
    obj: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web-1.187a", "namespace": "default"},
        "eventTime": NOW,
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-node-1",
        "action": "Binding",
        "reason": "Scheduled",
        "note": "Successfully assigned default/web-1 to node-1",
        "type": "Normal",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1"},
    }
    obj.update(fields)
    return {k: v for k, v in obj.items() if v is not None}


def core_event(**fields: Any) -> dict[str, Any]:
    """What client-go's tools/record (kube.client.events) writes: no eventTime."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web-1.187b", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1"},
        "reason": "Started",
        "message": "Started container web",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-24T12:00:00Z",
        "lastTimestamp": "2026-11-24T12:00:00Z",
        "count": 1,
        "type": "Normal",
    }
    obj.update(fields)
    return {k: v for k, v in obj.items() if v is not None}


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    group = obj["apiVersion"].rpartition("/")[0]
    return [f"{c.field}: {c.message}" for c in validate(group, "v1", "Event", obj, old)]


def test_what_the_recorders_write_is_valid() -> None:
    assert errors(v1_event()) == []
    assert errors(core_event()) == []
    node_event = core_event(involvedObject={"kind": "Node", "name": "node-1"})
    assert errors(node_event) == []  # a cluster-scoped object's events go in default


def test_core_event_namespace_must_match_its_object() -> None:
    assert errors(core_event(involvedObject={"kind": "Pod", "namespace": "other"})) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace'
    ]
    cluster_scoped = core_event(involvedObject={"kind": "Node", "name": "n"})
    cluster_scoped["metadata"]["namespace"] = "apps"
    assert errors(cluster_scoped) == [
        'involvedObject.namespace: Invalid value: "": does not match event.namespace'
    ]


def test_core_event_with_event_time_needs_its_reporter() -> None:
    event = core_event(eventTime=NOW, reason="")
    assert errors(event) == [
        "reportingComponent: Required value",
        'reportingComponent: Invalid value: "": name part must be non-empty',
        'reportingComponent: Invalid value: "": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        "reportingInstance: Required value",
        "action: Required value",
        "reason: Required value",
    ]


def test_v1_event_strict_create() -> None:
    assert errors(v1_event(eventTime=None)) == ["eventTime: Required value"]
    assert errors(v1_event(type="Info")) == ['type: Invalid value: "": has invalid value: Info']
    assert errors(v1_event(deprecatedCount=3, deprecatedSource={"component": "x"})) == [
        'count: Invalid value: "": needs to be unset',
        'source: Invalid value: "": needs to be unset',
    ]
    assert errors(v1_event(series={"count": 1})) == [
        'series.count: Invalid value: "": should be at least 2',
        "series.lastObservedTime: Required value",
    ]
    assert errors(v1_event(series={"count": 2, "lastObservedTime": NOW})) == []


@pytest.mark.parametrize(
    ("name", "limit"), [("reportingInstance", 128), ("action", 128), ("reason", 128)]
)
def test_v1_event_length_limits(name: str, limit: int) -> None:
    assert errors(v1_event(**{name: "a" * limit})) == []
    assert errors(v1_event(**{name: "a" * (limit + 1)})) == [
        f'{name}: Invalid value: "": can have at most {limit} characters'
    ]
    assert errors(v1_event(note="n" * 1025)) == [
        'message: Invalid value: "": can have at most 1024 characters'
    ]


def test_v1_event_update_may_change_only_its_series() -> None:
    old = v1_event(series={"count": 2, "lastObservedTime": NOW})
    assert errors(v1_event(series={"count": 3, "lastObservedTime": NOW}), old) == []
    assert errors(v1_event(series={"count": 1, "lastObservedTime": NOW}), old) == [
        'series.count: Invalid value: "": should be at least 2'
    ]
    changed = v1_event(series=old["series"], note="other", reportingController="x")
    assert errors(changed, old) == [
        'message: Invalid value: "other": field is immutable',
        'reportingController: Invalid value: "x": field is immutable',
    ]
