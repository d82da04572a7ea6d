"""The event recorder against a real API server: the Events a user sees with kubectl."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest

from kube.api.resources import resource
from kube.client.events import EventRecorder
from kube.client.rest import RESTClient

EVENTS = resource("events")
NAMESPACES = resource("namespaces")
CONFIGMAPS = resource("configmaps")


class Wall:
    """Wall-clock nanoseconds that move only when told (timestamps the test can predict)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> int:
        return int(self.now * 1e9)


@pytest.fixture
async def namespace(client: RESTClient) -> str:
    name = f"ev-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


async def configmap(client: RESTClient, namespace: str, name: str = "cm") -> dict[str, Any]:
    return await client.create(
        CONFIGMAPS, {"metadata": {"name": name, "namespace": namespace}, "data": {}}
    )


async def events_in(client: RESTClient, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.list(EVENTS, namespace))["items"]
    return sorted(items, key=lambda e: e["metadata"]["name"])


async def test_an_event_is_written_as_upstream_writes_it(
    client: RESTClient, namespace: str
) -> None:
    cm = await configmap(client, namespace)
    wall = Wall()
    recorder = EventRecorder(client, wall_ns=wall)
    recorder.start()
    recorder.event(cm, "Normal", "Synced", "config map synced")
    await recorder.stop()

    [event] = await events_in(client, namespace)
    assert re.fullmatch(r"cm\.[0-9a-f]+", event["metadata"]["name"])
    assert event["metadata"]["name"] == f"cm.{int(wall.now * 1e9):x}"
    assert event["involvedObject"] == {
        "kind": "ConfigMap",
        "namespace": namespace,
        "name": "cm",
        "uid": cm["metadata"]["uid"],
        "apiVersion": "v1",
        "resourceVersion": cm["metadata"]["resourceVersion"],
    }
    assert event["type"] == "Normal"
    assert event["reason"] == "Synced"
    assert event["message"] == "config map synced"
    assert event["source"] == {"component": "kube-controller-manager"}
    assert event["reportingComponent"] == "kube-controller-manager"
    assert event["count"] == 1
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2027-01-15T08:00:00Z"


async def test_repeats_are_counted_on_one_event(client: RESTClient, namespace: str) -> None:
    cm = await configmap(client, namespace)
    wall = Wall()
    recorder = EventRecorder(client, wall_ns=wall)
    recorder.start()
    for _ in range(3):
        recorder.event(cm, "Warning", "FailedSync", "could not sync")
        await recorder.flush()
        wall.now += 60
    recorder.event(cm, "Warning", "FailedSync", "another message")
    await recorder.stop()

    repeated, other = sorted(await events_in(client, namespace), key=lambda e: -e["count"])
    assert repeated["count"] == 3
    assert repeated["message"] == "could not sync"
    assert repeated["firstTimestamp"] == "2027-01-15T08:00:00Z"
    assert repeated["lastTimestamp"] == "2027-01-15T08:02:00Z"
    assert other["count"] == 1
    assert other["message"] == "another message"


async def test_a_repeat_of_a_deleted_event_creates_it_again(
    client: RESTClient, namespace: str
) -> None:
    cm = await configmap(client, namespace)
    recorder = EventRecorder(client, wall_ns=Wall())
    recorder.start()
    recorder.event(cm, "Normal", "Synced", "done")
    await recorder.flush()
    [event] = await events_in(client, namespace)
    await client.delete(EVENTS, event["metadata"]["name"], namespace)
    recorder.event(cm, "Normal", "Synced", "done")
    await recorder.stop()
    [again] = await events_in(client, namespace)
    assert again["metadata"]["name"] == event["metadata"]["name"]
    assert again["count"] == 2


async def test_events_about_cluster_scoped_objects_go_to_default(client: RESTClient) -> None:
    ns = await client.get(NAMESPACES, "default")
    recorder = EventRecorder(client, wall_ns=Wall(1_900_000_000.0 + uuid.uuid4().int % 10_000))
    recorder.start()
    recorder.event(ns, "Normal", "Checked", f"namespace checked {uuid.uuid4()}")
    await recorder.stop()
    [event] = [
        e
        for e in await events_in(client, "default")
        if e["involvedObject"].get("kind") == "Namespace" and e["reason"] == "Checked"
    ][-1:]
    assert event["metadata"]["namespace"] == "default"
    assert "namespace" not in event["involvedObject"]


async def test_ten_similar_messages_are_combined(client: RESTClient, namespace: str) -> None:
    cm = await configmap(client, namespace)
    recorder = EventRecorder(client, wall_ns=Wall())
    recorder.start()
    for i in range(11):
        recorder.event(cm, "Warning", "FailedCreate", f"attempt {i} failed")
        await recorder.flush()
    await recorder.stop()

    events = await events_in(client, namespace)
    plain = [e for e in events if not e["message"].startswith("(combined")]
    combined = [e for e in events if e["message"].startswith("(combined")]
    assert len(plain) == 9
    [one] = combined
    assert one["message"] == "(combined from similar events): attempt 10 failed"
    assert one["count"] == 2


async def test_an_object_gets_a_burst_of_25_events(client: RESTClient, namespace: str) -> None:
    cm = await configmap(client, namespace)
    recorder = EventRecorder(client, wall_ns=Wall())
    recorder.start()
    for i in range(30):
        recorder.event(cm, "Normal", f"Reason{i}", "something happened")
    await recorder.stop()
    assert len(await events_in(client, namespace)) == 25


async def test_a_full_queue_drops_with_a_log_line(
    client: RESTClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    cm = await configmap(client, namespace)
    recorder = EventRecorder(client, queue_size=2, wall_ns=Wall())
    with caplog.at_level(logging.ERROR, logger="kube.events"):
        for i in range(3):
            recorder.event(cm, "Normal", "Busy", f"event {i}")
    assert recorder.dropped == 1
    assert "event queue is full (2), dropping event Normal cm Busy: event 2" in caplog.text
    recorder.start()
    await recorder.stop()
    assert [e["message"] for e in await events_in(client, namespace)] == ["event 0", "event 1"]


async def test_each_controller_can_record_as_its_own_component(
    client: RESTClient, namespace: str
) -> None:
    cm = await configmap(client, namespace)
    recorder = EventRecorder(client, wall_ns=Wall())
    recorder.start()
    recorder.with_component("deployment-controller").event(cm, "Normal", "X", "from a controller")
    await recorder.stop()
    [event] = await events_in(client, namespace)
    assert event["source"] == {"component": "deployment-controller"}
    assert event["reportingComponent"] == "deployment-controller"
