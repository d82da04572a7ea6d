"""Which exited containers the kubelet keeps: one dead instance per container while it
restarts (what `kubectl logs --previous` reads), and a finished pod's containers until the
pod is deleted (what `kubectl logs` of a Succeeded pod reads). Over the fake CRI of
test_init.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from tests.kubelet.test_init import FakeCRI, make_pod, syncer


@dataclass
class RemovingCRI(FakeCRI):
    def RemoveContainer(self, request: Any) -> Any:
        self.calls.append(f"remove {request.container_id}")
        del self.containers[request.container_id]
        return pb.RemoveContainerResponse()


async def test_a_restarted_container_keeps_one_dead_instance() -> None:
    cri = RemovingCRI()
    kubelet, _ = syncer(cri)
    pod = make_pod("Always", initContainers=[])
    await kubelet.sync(pod)
    cri.exit("main", 1)
    await kubelet.sync(pod)  # the first restart is immediate; main-0 is the previous one
    assert sorted(cri.containers) == ["main-0", "main-1"]
    cri.exit("main", 1)
    kubelet.backoff.forget("u1/")  # skip the CrashLoopBackOff wait
    status, _ = await kubelet.sync(pod)
    assert "remove main-0" in cri.calls
    assert sorted(cri.containers) == ["main-1", "main-2"]
    assert cri.containers["main-1"].state == pb.CONTAINER_EXITED
    assert status["containerStatuses"][0]["restartCount"] == 2


async def test_a_finished_pod_keeps_its_containers_until_removed() -> None:
    cri = RemovingCRI()
    kubelet, _ = syncer(cri)
    pod = make_pod("Never", initContainers=[])
    await kubelet.sync(pod)
    cri.exit("main", 0)
    status, _ = await kubelet.sync(pod)
    assert status["phase"] == "Succeeded"
    await kubelet.terminate(pod, 0, remove=False)
    assert "StopPodSandbox" in cri.calls
    assert list(cri.containers) == ["main-0"]
    assert cri.sandboxes  # stopped, not removed
    await kubelet.terminate(pod, 0)  # the pod was deleted
    assert cri.sandboxes == []
