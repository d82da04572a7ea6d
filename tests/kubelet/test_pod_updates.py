"""Which pod updates from the API make the kubelet sync a pod again (upstream's pod config).

The kubelet's own status write comes back as a watch event; upstream records it and does not
sync again (checkAndUpdatePod compares spec, labels, annotations and deletion only). With 100
pods starting, each such event cost a full sync (volumes, CRI lists) in the busiest second.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, cast

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.kubelet.kubelet import Kubelet, PodWorker, status_only_change
from kube.kubelet.runtimeview import runtime_view
from kube.kubelet.status import ContainerInfo


def pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u", "resourceVersion": "1"},
        "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "img"}]},
        "status": status,
    }


def written(old: dict[str, Any], **status: Any) -> dict[str, Any]:
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "2"
    new["status"] = status
    return new


def test_a_status_write_alone_is_not_a_change_to_sync() -> None:
    old = pod(phase="Pending")
    assert status_only_change(old, written(old, phase="Running", podIP="10.244.0.2"))


def test_spec_labels_annotations_and_deletion_are() -> None:
    old = pod(phase="Running")
    changed = []
    for path, value in (
        (("spec", "activeDeadlineSeconds"), 5),
        (("metadata", "labels"), {"a": "b"}),
        (("metadata", "annotations"), {"a": "b"}),
        (("metadata", "deletionTimestamp"), "2026-01-01T00:00:00Z"),
        (("metadata", "deletionGracePeriodSeconds"), 30),
    ):
        new = written(old, phase="Running")
        new[path[0]][path[1]] = value
        changed.append(status_only_change(old, new))
    assert changed == [False] * 5


def test_a_terminal_phase_from_elsewhere_is() -> None:
    old = pod(phase="Running")
    assert not status_only_change(old, written(old, phase="Failed", reason="DeadlineExceeded"))
    failed = written(old, phase="Failed")
    assert status_only_change(failed, written(failed, phase="Failed", message="again"))


def _kubelet() -> tuple[Kubelet, PodWorker]:
    kubelet = Kubelet(cast(Any, None), cast(Any, None), cast(Any, None))
    worker = PodWorker(pod(phase="Pending"))
    kubelet.workers["u"] = worker
    return kubelet, worker


def test_the_worker_keeps_the_new_object_without_being_woken() -> None:
    kubelet, worker = _kubelet()
    new = written(worker.pod, phase="Running")
    kubelet._pod_updated(worker.pod, new)
    assert worker.pod is new
    assert not worker.event.is_set()


def test_a_resync_and_a_spec_change_wake_the_worker() -> None:
    kubelet, worker = _kubelet()
    kubelet._pod_updated(worker.pod, worker.pod)  # the informer's resync: the same object
    assert worker.event.is_set()
    worker.event.clear()
    new = written(worker.pod, phase="Pending")
    new["metadata"]["labels"] = {"app": "x"}
    kubelet._pod_updated(worker.pod, new)
    assert worker.event.is_set()
    assert worker.pod is new


class _Syncer:
    """A PodSyncer's `sync` that, like pod_status, keeps the old status's startTime."""

    def __init__(self) -> None:
        self.clock = iter(["2026-01-01T00:00:07Z", "2026-01-01T00:00:08Z"])

    async def sync(self, p: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        start = (p.get("status") or {}).get("startTime") or next(self.clock)
        return {"phase": "Running", "startTime": start}, None


class _Client:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch(self, _kind: Any, _name: str, body: dict[str, Any], *_a: Any, **_k: Any) -> Any:
        self.patches.append(body)
        return body


async def test_the_next_sync_builds_on_the_status_written_not_on_a_stale_pod() -> None:
    client = _Client()
    kubelet = Kubelet(cast(Any, client), cast(Any, None), cast(Any, None))
    kubelet.syncer = cast(Any, _Syncer())
    worker = PodWorker(pod(phase="Pending"))
    assert not await kubelet.sync_pod(worker)
    # The watch has not brought the written status back: the pod object is still Pending.
    assert not await kubelet.sync_pod(worker)
    assert client.patches == [{"status": {"phase": "Running", "startTime": "2026-01-01T00:00:07Z"}}]


# -- relists (kube.kubelet.pleg) ---------------------------------------------------------------


def _relisted(kubelet: Kubelet, states: dict[str, tuple[str, int]]) -> None:
    kubelet.pleg.states = states
    for uid in {owner for owner, _ in states.values()}:
        kubelet._relisted(uid)


def test_a_relist_showing_what_the_last_sync_saw_does_not_wake_the_worker() -> None:
    kubelet, worker = _kubelet()
    syncer = cast(Any, type("S", (), {"seen": {}})())
    kubelet.syncer = syncer
    info = ContainerInfo(id="c1", name="c", attempt=0, state=pb.CONTAINER_RUNNING)
    syncer.seen["u"] = runtime_view("s1", {"c": [info]})
    running = {"s/s1": ("u", pb.SANDBOX_READY), "c/c1": ("u", pb.CONTAINER_RUNNING)}
    _relisted(kubelet, running)  # the sandbox and container the sync made and started
    assert not worker.event.is_set()
    _relisted(kubelet, {**running, "c/c1": ("u", pb.CONTAINER_EXITED)})  # it exited since
    assert worker.event.is_set()


def test_a_relist_before_any_sync_wakes_the_worker() -> None:
    kubelet, worker = _kubelet()
    kubelet.syncer = cast(Any, type("S", (), {"seen": {}})())
    _relisted(kubelet, {"s/s1": ("u", pb.SANDBOX_READY)})
    assert worker.event.is_set()


def _seen_running(kubelet: Kubelet) -> dict[str, tuple[str, int]]:
    syncer = cast(Any, type("S", (), {"seen": {}})())
    kubelet.syncer = syncer
    info = ContainerInfo(id="c1", name="c", attempt=0, state=pb.CONTAINER_RUNNING)
    syncer.seen["u"] = runtime_view("s1", {"c": [info]})
    return {"s/s1": ("u", pb.SANDBOX_READY), "c/c1": ("u", pb.CONTAINER_RUNNING)}


def test_a_relist_from_during_the_last_sync_showing_less_does_not_wake_the_worker() -> None:
    # The relist began while the sync was making the sandbox: it shows the sandbox alone, or
    # the container still created; the sync saw it running.
    kubelet, worker = _kubelet()
    running = _seen_running(kubelet)
    worker.synced_at = 10.0
    kubelet.pleg.started = 9.5
    _relisted(kubelet, {"s/s1": running["s/s1"]})
    _relisted(kubelet, {**running, "c/c1": ("u", pb.CONTAINER_CREATED)})
    assert not worker.event.is_set()
    _relisted(kubelet, {**running, "c/c1": ("u", pb.CONTAINER_EXITED)})  # further on: news
    assert worker.event.is_set()


def test_a_relist_from_during_the_sync_showing_an_object_it_did_not_see_wakes_it() -> None:
    kubelet, worker = _kubelet()
    running = _seen_running(kubelet)
    worker.synced_at = 10.0
    kubelet.pleg.started = 9.5
    _relisted(kubelet, {**running, "c/c2": ("u", pb.CONTAINER_RUNNING)})
    assert worker.event.is_set()


def test_a_relist_after_the_sync_showing_less_wakes_the_worker() -> None:
    # Begun after the sync ended: the container has gone since (removed by someone else).
    kubelet, worker = _kubelet()
    running = _seen_running(kubelet)
    worker.synced_at = 10.0
    kubelet.pleg.started = 10.5
    _relisted(kubelet, {"s/s1": running["s/s1"]})
    assert worker.event.is_set()


async def test_a_relist_during_a_sync_is_judged_when_the_sync_ends() -> None:
    kubelet, worker = _kubelet()
    running = _seen_running(kubelet)
    kubelet.syncer.seen.clear()  # type: ignore[union-attr]
    seen = runtime_view("s1", {"c": [ContainerInfo(id="c1", name="c", attempt=0, state=1)]})
    syncs: list[bool] = []

    async def sync_pod(_worker: PodWorker) -> bool:
        syncs.append(_worker.syncing)
        if len(syncs) == 1:
            # A relist lands while this sync has made the sandbox but not the container yet.
            kubelet.pleg.started = time.monotonic()
            _relisted(kubelet, {"s/s1": running["s/s1"]})
            assert worker.relisted
            assert not worker.event.is_set()
            kubelet.syncer.seen["u"] = seen  # type: ignore[union-attr]
        return False

    kubelet.sync_pod = sync_pod  # type: ignore[method-assign]
    worker.task = asyncio.create_task(kubelet._work("u", worker))
    worker.poke()
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert syncs == [True]  # one sync: the relist showed less than it saw
    kubelet.pleg.started = time.monotonic()  # a later relist: the container exited
    _relisted(kubelet, {**running, "c/c1": ("u", pb.CONTAINER_EXITED)})
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert syncs == [True, True]
    worker.task.cancel()
