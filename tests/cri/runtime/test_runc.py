"""The built-in runtime end to end over the CRI socket, with runc and a pod network namespace.

Runs where the machine can isolate (root and runc, as here and in CI). Everything it creates is
named by the test (the bridge `kube-t<hex>`, the runtime's `kube-<id>` namespaces and veths) and
removed by name at the end, even when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.cri.runtime.runtime import Runtime
from kube.cri.runtime.sandbox import netns_name, veth_name
from kube.cri.runtime.server import serve
from tests.cri.conftest import require_isolation

IMAGE = "localhost/busybox:latest"


def exists(path: str) -> bool:
    return Path(path).exists()


def read_lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def cleanup_network(bridge: str, sandbox_ids: list[str]) -> None:
    """Removes, by name, whatever the test's runtime may have left behind."""
    for sandbox_id in sandbox_ids:
        subprocess.run(["ip", "link", "del", veth_name(sandbox_id)], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns_name(sandbox_id)], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)


@contextlib.asynccontextmanager
async def cri_server(root: Path, archive: Path, cidr: str) -> AsyncIterator[RuntimeClient]:
    bridge = f"kube-t{secrets.token_hex(4)}"
    runtime = Runtime(root, bridge=bridge, pod_cidr=cidr, mode="runc")
    runtime.images.import_archive(archive)
    socket = root / "cri.sock"
    ready = asyncio.Event()
    task = asyncio.create_task(serve(runtime, f"unix://{socket}", ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        async with RuntimeClient(f"unix://{socket}", timeout=60) as client:
            yield client
    finally:
        sandbox_ids = list(runtime.sandboxes)
        for sandbox_id in sandbox_ids:
            with contextlib.suppress(Exception):
                await runtime.remove_sandbox(sandbox_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cleanup_network(bridge, sandbox_ids)
        assert not exists(f"/sys/class/net/{bridge}")


async def test_sleep_container_in_a_sandbox(tmp_path: Path, busybox_archive: Path) -> None:
    require_isolation()
    cidr = f"10.244.{200 + secrets.randbelow(50)}.0/24"
    async with cri_server(tmp_path / "rt", busybox_archive, cidr) as cri:
        version = await cri.version()
        assert version.runtime_name == "kube-runtime"
        assert version.runtime_api_version == "v1"

        sandbox_config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="sleeper", uid="uid-1", namespace="default"),
            hostname="sleeper",
            log_directory=str(tmp_path / "logs"),
            labels={"io.kubernetes.pod.uid": "uid-1"},
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=f"/kube-test-{secrets.token_hex(4)}"),
        )
        run = await cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=sandbox_config))
        sandbox_id = run.pod_sandbox_id
        status = await cri.call(
            "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)
        )
        assert status.status.state == pb.SANDBOX_READY
        assert status.status.network.ip.startswith(cidr.rsplit(".", 2)[0])
        assert exists(f"/run/netns/{netns_name(sandbox_id)}")

        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="main"),
            image=pb.ImageSpec(image=IMAGE),
            command=[
                "sh",
                "-c",
                "trap 'echo stopping; exit 7' TERM; echo started; while true; do sleep 0.2; done",
            ],
            log_path="main/0.log",
        )
        created = await cri.call(
            "CreateContainer",
            pb.CreateContainerRequest(
                pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
            ),
        )
        cid = created.container_id
        await cri.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        state = await cri.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid))
        assert state.status.state == pb.CONTAINER_RUNNING
        assert state.status.image_ref.startswith("sha256:")

        result = await cri.call(
            "ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=["echo", "hi"], timeout=10)
        )
        assert (result.stdout, result.exit_code) == (b"hi\n", 0)
        # The container sees the pod's own network namespace and hostname.
        result = await cri.call(
            "ExecSync",
            pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "hostname; exit 3"], timeout=10),
        )
        assert (result.stdout, result.exit_code) == (b"sleeper\n", 3)

        await cri.call("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=5))
        state = await cri.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid))
        assert state.status.state == pb.CONTAINER_EXITED
        assert state.status.exit_code == 7  # the shell's TERM trap ran: a graceful stop
        log_lines = read_lines(state.status.log_path)
        assert [line.split(" ", 1)[1] for line in log_lines] == [
            "stdout F started",
            "stdout F stopping",
        ]

        await cri.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
        listed = await cri.call("ListContainers", pb.ListContainersRequest())
        assert list(listed.containers) == []
        assert not exists(f"/run/netns/{netns_name(sandbox_id)}")
        assert not exists(f"/sys/class/net/{veth_name(sandbox_id)}")


async def test_missing_image_is_not_found(tmp_path: Path, busybox_archive: Path) -> None:
    require_isolation()
    async with cri_server(tmp_path / "rt", busybox_archive, "10.244.251.0/24") as cri:
        status = await cri.image_call(
            "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image="nope:1"))
        )
        assert not status.HasField("image")
        with pytest.raises(Exception, match="no registry is reachable"):
            await cri.image_call(
                "PullImage", pb.PullImageRequest(image=pb.ImageSpec(image="nope:1"))
            )
        found = await cri.image_call(
            "PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=IMAGE))
        )
        assert found.image_ref.startswith("sha256:")


async def test_over_its_memory_limit_a_container_is_oom_killed(
    tmp_path: Path, busybox_archive: Path
) -> None:
    require_isolation()
    async with cri_server(tmp_path / "rt", busybox_archive, "10.244.252.0/24") as cri:
        sandbox_config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name="hog", uid="uid-oom", namespace="default"),
            log_directory=str(tmp_path / "logs"),
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=f"/kube-test-{secrets.token_hex(4)}"),
        )
        run = await cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=sandbox_config))
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="hog"),
            image=pb.ImageSpec(image=IMAGE),
            # tail keeps a line without a newline in memory: 256 MiB of zeros, one line.
            command=["sh", "-c", "head -c 268435456 /dev/zero | tail"],
            log_path="hog/0.log",
            linux=pb.LinuxContainerConfig(
                resources=pb.LinuxContainerResources(memory_limit_in_bytes=32 << 20)
            ),
        )
        created = await cri.call(
            "CreateContainer",
            pb.CreateContainerRequest(
                pod_sandbox_id=run.pod_sandbox_id, config=config, sandbox_config=sandbox_config
            ),
        )
        cid = created.container_id
        await cri.call("StartContainer", pb.StartContainerRequest(container_id=cid))
        for _ in range(200):
            state = await cri.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid))
            if state.status.state == pb.CONTAINER_EXITED:
                break
            await asyncio.sleep(0.05)
        assert state.status.state == pb.CONTAINER_EXITED
        assert (state.status.reason, state.status.exit_code) == ("OOMKilled", 137)
