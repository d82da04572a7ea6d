"""Starting one container: its image, its config, CreateContainer, StartContainer, postStart.

`ContainerStarter.start(pod, container, attempt, sandbox)` is upstream's startContainer: the
image is made present (ImageStatus, then PullImage, which the built-in runtime answers from its
store; `Pulled`, or ErrImagePull and then ImagePullBackOff), the environment is built
(kube.kubelet.envvars), the container is created with the volumes' mounts, the pod's
/etc/hosts (kube.kubelet.etchosts), a new termination-message file and its resources as cgroup
settings, then started, then its postStart hook runs; a hook that fails has the container
killed. Each step that fails gives the container's waiting (reason, message) as upstream's.
The ids it creates are kept per pod (`made`), so the sync that made them reads their statuses
without listing the pod's containers.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api.quantity import QuantityError, parse
from kube.cri.client import RuntimeClient
from kube.kubelet.dns import DEFAULT_CLUSTER_DOMAIN, DNSConfigurer
from kube.kubelet.envvars import EnvError, ObjectSource, build_env
from kube.kubelet.etchosts import ETC_HOSTS, ensure_hosts_file, wants_hosts_mount
from kube.kubelet.hooks import run_hook
from kube.kubelet.killing import ContainerKiller, grace_period
from kube.kubelet.podevents import PodEvents
from kube.kubelet.specs import container_config
from kube.kubelet.termination import DEFAULT_PATH, message_file
from kube.kubelet.volumes import VolumeManager

PRESENT = 'Container image "%s" already present on machine and can be accessed by the pod'
CPU_PERIOD = 100_000
MIN_SHARES = 2


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse(str(value)).value if value is not None else None
    except QuantityError:
        return None


def linux_resources(container: dict[str, Any]) -> Any:
    """requests/limits as cgroup settings (upstream's kuberuntime container_linux.go)."""
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    out = pb.LinuxContainerResources()
    cpu_request = _quantity(requests.get("cpu", limits.get("cpu")))
    if cpu_request is not None:
        out.cpu_shares = max(MIN_SHARES, int(cpu_request * 1024))
    else:
        out.cpu_shares = MIN_SHARES
    cpu_limit = _quantity(limits.get("cpu"))
    if cpu_limit is not None and cpu_limit > 0:
        out.cpu_period = CPU_PERIOD
        out.cpu_quota = max(1000, int(cpu_limit * CPU_PERIOD))
    memory_limit = _quantity(limits.get("memory"))
    if memory_limit is not None and memory_limit > 0:
        out.memory_limit_in_bytes = int(memory_limit)
        out.memory_swap_limit_in_bytes = int(memory_limit)  # upstream's NoSwap: no swap on top
    return out


class ContainerStarter:
    """Creates and starts the containers of the node's pods."""

    def __init__(
        self,
        cri: RuntimeClient,
        events: PodEvents,
        killer: ContainerKiller,
        *,
        node_ip: str,
        objects: ObjectSource,
        volumes: VolumeManager | None,
        root_dir: Path | None,
        dns: DNSConfigurer | None,
    ) -> None:
        self.cri = cri
        self.events = events
        self.killer = killer
        self.node_ip = node_ip
        self.objects = objects  # ConfigMaps and Secrets for env
        self.volumes = volumes
        self.root_dir = root_dir  # where termination-message files go (None: no mount)
        self.dns = dns
        self.image_failures: dict[str, int] = {}
        # pod uid -> the containers this sync pass created (CreateContainer's ids).
        self.made: dict[str, list[str]] = {}

    async def ensure_image(
        self, pod: dict[str, Any], container: dict[str, Any]
    ) -> tuple[str, str] | None:
        """None when the image is present; else the waiting (reason, message)."""
        image = container.get("image", "")
        status = await self.cri.image_call(
            "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image))
        )
        if status.HasField("image"):
            self.image_failures.pop(image, None)
            self.events.event(pod, "Normal", "Pulled", PRESENT % image, container.get("name", ""))
            return None
        if container.get("imagePullPolicy") == "Never":
            return (
                "ErrImageNeverPull",
                f'Container image "{image}" is not present with pull policy of Never',
            )
        try:
            await self.cri.image_call(
                "PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=image))
            )
        except grpc.aio.AioRpcError as err:
            failures = self.image_failures.get(image, 0) + 1
            self.image_failures[image] = failures
            if failures > 1:
                return ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            return ("ErrImagePull", f"failed to pull image {image!r}: {err.details()}")
        return None

    def config(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        attempt: int,
        env: dict[str, str],
        pod_ip: str = "",
    ) -> Any:
        """The CRI config, with the volumes' mounts, the pod's /etc/hosts (kube.kubelet.etchosts)
        and a new termination-message file."""
        mounts: list[Any] = []
        if self.volumes is not None:
            mounts.extend(self.volumes.mounts(pod, container, env))
        if self.root_dir is not None and wants_hosts_mount(container, [pod_ip] if pod_ip else []):
            domain = self.dns.cluster_domain if self.dns else DEFAULT_CLUSTER_DOMAIN
            hosts = ensure_hosts_file(self.root_dir, pod, [pod_ip], domain)
            mounts.append(pb.Mount(container_path=ETC_HOSTS, host_path=str(hosts)))
        if self.root_dir is not None:
            uid, name = str(pod["metadata"]["uid"]), str(container["name"])
            host = message_file(self.root_dir, uid, name)
            target = str(container.get("terminationMessagePath") or DEFAULT_PATH)
            mounts.append(pb.Mount(container_path=target, host_path=str(host)))
        return container_config(
            pod, container, attempt, env, mounts=mounts, resources=linux_resources(container)
        )

    async def start(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        attempt: int,
        sandbox: tuple[str, str, Any],
    ) -> tuple[str, str] | None:
        """Creates and starts one container, then its postStart hook; a waiting (reason,
        message) if it cannot."""
        problem = await self.ensure_image(pod, container)
        if problem is not None:
            return problem
        sandbox_id, pod_ip, sandbox_config = sandbox
        name = str(container.get("name", ""))
        try:
            env = await build_env(pod, container, self.objects, pod_ip=pod_ip, host_ip=self.node_ip)
        except EnvError as err:
            self.events.event(pod, "Warning", "Failed", f"Error: {err}", name)
            return ("CreateContainerConfigError", str(err))
        # In a thread: the config's files (a termination-message file, the pod's hosts file)
        # are made on disk, and a busy disk would hold up every other pod's sync meanwhile.
        config = await asyncio.to_thread(self.config, pod, container, attempt, env, pod_ip)
        try:
            created = await self.cri.call(
                "CreateContainer",
                pb.CreateContainerRequest(
                    pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
                ),
            )
        except grpc.aio.AioRpcError as err:
            return ("CreateContainerError", err.details() or str(err.code()))
        self.made.setdefault(str(pod["metadata"]["uid"]), []).append(created.container_id)
        self.events.event(pod, "Normal", "Created", "Container created", name)
        try:
            await self.cri.call(
                "StartContainer", pb.StartContainerRequest(container_id=created.container_id)
            )
        except grpc.aio.AioRpcError as err:
            return ("RunContainerError", err.details() or str(err.code()))
        self.events.event(pod, "Normal", "Started", "Container started", name)
        hook = (container.get("lifecycle") or {}).get("postStart")
        if isinstance(hook, dict):
            failed = await run_hook(self.cri, hook, pod, container, created.container_id, pod_ip)
            if failed is not None:
                # As upstream: the container is killed and its restart follows the policy.
                self.events.event(pod, "Warning", "FailedPostStartHook", failed, name)
                await self.killer.kill(
                    pod, container, created.container_id, grace_period(pod), "FailedPostStartHook"
                )
                return ("PostStartHookError", failed)
        return None
