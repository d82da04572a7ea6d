"""The runtime calls a started pod's later syncs make (over tests/kubelet/test_init.py's fake
CRI): the sandbox's IP is asked once per sandbox, and each sync records what it saw of the
runtime, which the PLEG compares against before syncing the pod again."""

from __future__ import annotations

from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from tests.kubelet.test_init import FakeCRI, syncer


class CountingCRI(FakeCRI):
    def PodSandboxStatus(self, request: Any) -> Any:
        self.calls.append("PodSandboxStatus")
        return super().PodSandboxStatus(request)

    def ListContainers(self, request: Any) -> Any:
        self.calls.append("ListContainers")
        return super().ListContainers(request)


def pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "main", "image": "img"}]},
    }


async def test_the_sandbox_ip_is_asked_once_per_sandbox() -> None:
    cri = CountingCRI()
    pods, _ = syncer(cri)
    first, _ = await pods.sync(pod())
    second, _ = await pods.sync(pod())
    assert first["podIP"] == second["podIP"] == "10.0.0.2"
    assert cri.calls.count("PodSandboxStatus") == 1
    await pods.terminate(pod(), 0)
    assert pods.sandbox.ips == {}
    assert "u1" not in pods.seen


async def test_a_sync_records_the_sandbox_and_containers_it_saw() -> None:
    cri = CountingCRI()
    pods, _ = syncer(cri)
    await pods.sync(pod())
    (container,) = cri.containers.values()
    assert pods.seen["u1"] == frozenset(
        {("s/sb", pb.SANDBOX_READY), ("c/" + container.id, pb.CONTAINER_RUNNING)}
    )


async def test_a_pods_first_pass_lists_no_containers() -> None:
    cri = CountingCRI()
    pods, _ = syncer(cri)
    status, _ = await pods.sync(pod())
    # No list at all: the sandbox was new and empty, and the statuses after the start are
    # those of the containers this pass made.
    assert cri.calls.count("ListContainers") == 0
    assert [c["name"] for c in status["containerStatuses"]] == ["main"]
    assert "running" in status["containerStatuses"][0]["state"]
    await pods.sync(pod())  # a later sync lists what is there
    assert cri.calls.count("ListContainers") == 1
    assert len(cri.containers) == 1
    assert pods.starter.made == {}
