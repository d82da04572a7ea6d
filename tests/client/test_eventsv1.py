"""The events.k8s.io/v1 broadcaster against a real API server: what the scheduler writes."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from kube.api.resources import resource
from kube.client.clock import FakeClock
from kube.client.eventsv1 import FINISH_AFTER, EventBroadcaster
from kube.client.rest import RESTClient

EVENTS = resource("events")
EVENTS_V1 = resource("events", "events.k8s.io")
NAMESPACES = resource("namespaces")
PODS = resource("pods")


class Wall:
    """Wall-clock nanoseconds that move only when told."""

    def __init__(self, start: float = 1_800_000_000.25) -> None:
        self.now = start

    def __call__(self) -> int:
        return int(self.now * 1e9)


@pytest.fixture
async def namespace(client: RESTClient) -> str:
    name = f"ev1-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


async def a_pod(client: RESTClient, namespace: str, name: str) -> dict[str, Any]:
    return await client.create(
        PODS,
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    )


async def v1_events(client: RESTClient, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.list(EVENTS_V1, namespace))["items"]
    return sorted(items, key=lambda e: e["metadata"]["name"])


async def test_an_event_is_written_as_the_scheduler_writes_it(
    client: RESTClient, namespace: str
) -> None:
    pod = await a_pod(client, namespace, "web")
    wall = Wall()
    broadcaster = EventBroadcaster(client, wall_ns=wall)
    broadcaster.start()
    recorder = broadcaster.new_recorder("default-scheduler", host="box")
    recorder.eventf(
        pod, None, "Normal", "Scheduled", "Binding", "Successfully assigned %s to %s", "x", "n1"
    )
    await broadcaster.stop()

    [listed] = await v1_events(client, namespace)
    assert listed["metadata"]["name"] == f"web.{wall():x}"
    event = await client.get(EVENTS_V1, listed["metadata"]["name"], namespace)
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["eventTime"] == "2027-01-15T08:00:00.250000Z"
    assert event["reportingController"] == "default-scheduler"
    assert event["reportingInstance"] == "default-scheduler-box"
    assert (event["type"], event["reason"], event["action"]) == ("Normal", "Scheduled", "Binding")
    assert event["note"] == "Successfully assigned x to n1"
    assert event["regarding"]["kind"] == "Pod"
    assert event["regarding"]["uid"] == pod["metadata"]["uid"]
    assert "series" not in event
    assert broadcaster.written == 1

    # kubectl reads the same Event through core/v1: what `kubectl describe pod` lists.
    [core] = (await client.list(EVENTS, namespace))["items"]
    assert core["involvedObject"]["name"] == "web"
    assert core["message"] == "Successfully assigned x to n1"
    assert core["reportingComponent"] == "default-scheduler"


async def test_related_object_and_repeats_become_a_series(
    client: RESTClient, namespace: str
) -> None:
    victim = await a_pod(client, namespace, "victim")
    preemptor = await a_pod(client, namespace, "preemptor")
    clock = FakeClock()
    broadcaster = EventBroadcaster(client, clock=clock, wall_ns=Wall())
    broadcaster.start()
    recorder = broadcaster.new_recorder("default-scheduler", host="box")
    for _ in range(4):
        recorder.eventf(victim, preemptor, "Normal", "Preempted", "Preempting", "Preempted")
        await broadcaster.flush()
    [event] = await v1_events(client, namespace)
    assert event["related"]["name"] == "preemptor"
    # The first repeat writes the series (count 2); later ones are only counted until the
    # series ends, when the final count is written.
    assert event["series"]["count"] == 2
    await clock.advance(2 * FINISH_AFTER + 1)  # the upkeep runs every 6 minutes
    await broadcaster.flush()
    [event] = await v1_events(client, namespace)
    assert event["series"]["count"] == 4
    await broadcaster.stop()


async def test_different_notes_of_one_kind_are_still_one_series(
    client: RESTClient, namespace: str
) -> None:
    """The series key leaves the note out (upstream's getKey): repeated FailedScheduling of a
    pod with a changing message is one Event, not one per attempt."""
    pod = await a_pod(client, namespace, "pending")
    broadcaster = EventBroadcaster(client, wall_ns=Wall())
    broadcaster.start()
    recorder = broadcaster.new_recorder("default-scheduler", host="box")
    recorder.eventf(pod, None, "Warning", "FailedScheduling", "Scheduling", "0/1 nodes")
    await broadcaster.flush()
    recorder.eventf(pod, None, "Warning", "FailedScheduling", "Scheduling", "0/2 nodes")
    await broadcaster.stop()
    [event] = await v1_events(client, namespace)
    assert event["note"] == "0/1 nodes"
    assert event["series"]["count"] == 2


async def test_a_full_queue_drops_with_a_log_line(
    client: RESTClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    pods = [await a_pod(client, namespace, f"p{i}") for i in range(3)]
    broadcaster = EventBroadcaster(client, max_queued=2, wall_ns=Wall())
    recorder = broadcaster.new_recorder("default-scheduler", host="box")
    with caplog.at_level(logging.ERROR, logger="kube.events"):
        for pod in pods:
            recorder.eventf(pod, None, "Normal", "Scheduled", "Binding", "bound")
    assert broadcaster.dropped == 1
    assert "event queue is full (2), dropping event Scheduled p2: bound" in caplog.text
    broadcaster.start()
    await broadcaster.stop()
    assert [e["regarding"]["name"] for e in await v1_events(client, namespace)] == ["p0", "p1"]


async def test_a_rejected_event_is_dropped_and_the_rest_are_written(
    client: RESTClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    pod = await a_pod(client, namespace, "ok")
    broadcaster = EventBroadcaster(client, wall_ns=Wall())
    broadcaster.start()
    recorder = broadcaster.new_recorder("default-scheduler", host="box")
    # A namespace that does not exist: the server answers 404 and the write is not retried.
    ghost = {**pod, "metadata": {**pod["metadata"], "namespace": "no-such-ns", "name": "ghost"}}
    with caplog.at_level(logging.ERROR, logger="kube.events"):
        recorder.eventf(ghost, None, "Normal", "Scheduled", "Binding", "lost")
        recorder.eventf(pod, None, "Normal", "Scheduled", "Binding", "kept")
        await broadcaster.stop()
    assert "will not retry" in caplog.text
    assert [e["note"] for e in await v1_events(client, namespace)] == ["kept"]
    assert broadcaster.written == 1
