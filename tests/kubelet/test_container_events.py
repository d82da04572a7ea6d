"""The Normal events of a container's start, as upstream's kubelet records them: Pulled
(`Container image "X" already present on machine and can be accessed by the pod`), Created
(`Container created`) and Started (`Container started`), each about the container
(involvedObject.fieldPath `spec.containers{name}`, `spec.initContainers{name}` for an init
container), in that order, and none for a step that failed."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from kube.kubelet.podevents import field_path
from kube.kubelet.pods import PodSyncer
from tests.kubelet.test_init import FakeCRI


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str, str]] = []

    def __call__(
        self, obj: dict[str, Any], kind: str, reason: str, message: str, /, *, field_path: str = ""
    ) -> None:
        self.events.append((obj["metadata"]["name"], kind, reason, message, field_path))


def _syncer(cri: FakeCRI, recorded: Recorded) -> PodSyncer:
    return PodSyncer(
        cri,  # type: ignore[arg-type]
        node_name="n1",
        node_ip="192.0.2.2",
        pod_logs_dir="/tmp/pods",
        runtime_name="fake",
        recorder=recorded,
    )


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "web", "image": "busybox:1"}], **spec},
    }


PRESENT = 'Container image "busybox:1" already present on machine and can be accessed by the pod'


async def test_a_started_container_has_pulled_created_and_started_events() -> None:
    recorded = Recorded()
    await _syncer(FakeCRI(), recorded).sync(_pod())
    assert recorded.events == [
        ("p", "Normal", "Pulled", PRESENT, "spec.containers{web}"),
        ("p", "Normal", "Created", "Container created", "spec.containers{web}"),
        ("p", "Normal", "Started", "Container started", "spec.containers{web}"),
    ]


async def test_a_later_sync_of_a_running_container_records_nothing() -> None:
    recorded = Recorded()
    syncer = _syncer(FakeCRI(), recorded)
    await syncer.sync(_pod())
    recorded.events.clear()
    await syncer.sync(_pod())
    assert recorded.events == []


class FailingStart(FakeCRI):
    def StartContainer(self, request: Any) -> Any:
        raise _RpcError()


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(grpc.StatusCode.UNKNOWN, None, None, details="exec: no such file")  # type: ignore[arg-type]


async def test_a_container_that_does_not_start_has_no_started_event() -> None:
    recorded = Recorded()
    status, _ = await _syncer(FailingStart(), recorded).sync(_pod())
    assert [e[2] for e in recorded.events] == ["Pulled", "Created"]
    (web,) = status["containerStatuses"]
    assert web["state"]["waiting"]["reason"] == "RunContainerError"


@pytest.mark.parametrize(
    ("spec", "name", "path"),
    [
        ({}, "web", "spec.containers{web}"),
        ({"initContainers": [{"name": "setup"}]}, "setup", "spec.initContainers{setup}"),
        ({"ephemeralContainers": [{"name": "debug"}]}, "debug", "spec.ephemeralContainers{debug}"),
    ],
)
def test_the_field_path_names_the_list_the_container_is_in(
    spec: dict[str, Any], name: str, path: str
) -> None:
    assert field_path(_pod(**spec), name) == path


async def test_killing_is_about_the_container_too() -> None:
    recorded = Recorded()
    cri = FakeCRI()
    syncer = _syncer(cri, recorded)
    await syncer.sync(_pod())
    (container_id,) = cri.containers
    recorded.events.clear()
    await syncer.kill_container(_pod(), {"name": "web"}, container_id, 0)
    assert recorded.events == [
        ("p", "Normal", "Killing", "Stopping container web", "spec.containers{web}")
    ]
