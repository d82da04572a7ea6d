"""Syncing one pod with the runtime: sandbox, images, containers, restarts, termination.

`PodSyncer.sync(pod)` is upstream's SyncPod for one pass: make sure the pod has a ready sandbox
(RunPodSandbox, with the pod's hostname, DNS, log directory and cgroup parent), that each
container's image is present (the "pull": ImageStatus, then PullImage, which the built-in
runtime answers from its store), create and start the containers that are missing, restart
exited ones as the restartPolicy says (with upstream's CrashLoopBackOff: 10 s doubling to 5
minutes), and return the pod status computed from what the runtime then reports.
`terminate(pod, grace)` stops the containers with the grace period, then the sandbox, then
removes it. Labels and annotations on sandboxes and containers are upstream's (io.kubernetes.*),
so `crictl` users and other runtimes see what they expect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api.meta import now_rfc3339
from kube.api.quantity import QuantityError, parse
from kube.cri.client import RuntimeClient
from kube.kubelet.status import ContainerInfo, pod_status
from kube.kubelet.volumes import MountError, VolumeManager

log = logging.getLogger("kube.kubelet.pods")

POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"
GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0  # a container that ran this long starts its backoff afresh
CPU_PERIOD = 100_000
MIN_SHARES = 2


class SyncError(Exception):
    """A sync pass could not finish; the worker retries."""


@dataclass
class Backoff:
    """Per-container restart backoff (upstream's flowcontrol.Backoff, 10 s .. 5 min)."""

    delays: dict[str, float] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def remaining(self, key: str, now: float) -> float:
        return max(0.0, self.until.get(key, 0.0) - now)

    def next(self, key: str, now: float, ran_for: float) -> float:
        delay = self.delays.get(key, 0.0)
        if ran_for >= BACKOFF_RESET or delay == 0.0:
            delay = BACKOFF_INITIAL
        else:
            delay = min(delay * 2, BACKOFF_MAX)
        self.delays[key] = delay
        self.until[key] = now + delay
        return delay

    def forget(self, prefix: str) -> None:
        for table in (self.delays, self.until):
            for key in [k for k in table if k.startswith(prefix)]:
                del table[key]


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
    return out


def field_value(pod: dict[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """A downward-API fieldRef value (the fields env vars may name)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path.startswith("metadata.labels['") or path.startswith("metadata.annotations['"):
        kind, _, rest = path.partition("['")
        return str((meta.get(kind.split(".")[1]) or {}).get(rest.rstrip("']"), ""))
    return str(values.get(path, ""))


def expand(text: str, env: dict[str, str]) -> str:
    """Upstream's $(VAR) expansion: $(VAR) from env, $$ escapes, unknown references stay."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i + 2)) > 0:
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class PodSyncer:
    """Runs pods on one node through a CRI runtime."""

    def __init__(
        self,
        cri: RuntimeClient,
        *,
        node_name: str,
        node_ip: str,
        pod_logs_dir: str,
        runtime_name: str,
        cgroup_root: str = "/kubepods",
        volumes: VolumeManager | None = None,
    ) -> None:
        self.cri = cri
        self.node_name = node_name
        self.node_ip = node_ip
        self.pod_logs_dir = pod_logs_dir.rstrip("/")
        self.runtime_name = runtime_name
        self.cgroup_root = cgroup_root.rstrip("/")
        self.backoff = Backoff()
        self.image_failures: dict[str, int] = {}
        self.volumes = volumes

    # -- runtime views ---------------------------------------------------------------------

    async def sandboxes(self, uid: str) -> list[Any]:
        """The pod's sandboxes, newest first."""
        answer = await self.cri.call(
            "ListPodSandbox",
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={POD_UID: uid})),
        )
        return sorted(answer.items, key=lambda s: s.created_at, reverse=True)

    async def containers(self, uid: str) -> dict[str, list[ContainerInfo]]:
        """The pod's containers by name, oldest first (the newest is the current one)."""
        answer = await self.cri.call(
            "ListContainers",
            pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector={POD_UID: uid})),
        )
        found: dict[str, list[ContainerInfo]] = {}
        for item in answer.containers:
            try:
                status = (
                    await self.cri.call(
                        "ContainerStatus", pb.ContainerStatusRequest(container_id=item.id)
                    )
                ).status
            except grpc.aio.AioRpcError:
                continue
            name = item.labels.get(CONTAINER_NAME) or item.metadata.name
            found.setdefault(name, []).append(
                ContainerInfo(
                    id=status.id,
                    name=name,
                    attempt=status.metadata.attempt,
                    state=status.state,
                    created_at=status.created_at,
                    started_at=status.started_at,
                    finished_at=status.finished_at,
                    exit_code=status.exit_code,
                    reason=status.reason,
                    message=status.message,
                    image_ref=status.image_ref,
                )
            )
        for history in found.values():
            history.sort(key=lambda c: (c.attempt, c.created_at))
        return found

    # -- sandbox ---------------------------------------------------------------------------

    def sandbox_config(self, pod: dict[str, Any], attempt: int) -> Any:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid, name, namespace = meta["uid"], meta["name"], meta.get("namespace", "default")
        host_network = bool(spec.get("hostNetwork"))
        dns = spec.get("dnsConfig") or {}
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=name, uid=uid, namespace=namespace, attempt=attempt
            ),
            hostname=spec.get("hostname") or name,
            log_directory=f"{self.pod_logs_dir}/{namespace}_{name}_{uid}",
            dns_config=pb.DNSConfig(
                servers=list(dns.get("nameservers") or []),
                searches=list(dns.get("searches") or []),
                options=[
                    o["name"] + (f":{o['value']}" if o.get("value") else "")
                    for o in dns.get("options") or []
                    if isinstance(o, dict) and o.get("name")
                ],
            ),
            labels={POD_UID: uid, POD_NAME: name, POD_NAMESPACE: namespace},
            annotations=dict(meta.get("annotations") or {}),
        )
        config.linux.cgroup_parent = f"{self.cgroup_root}/pod{uid}"
        if host_network:
            config.hostname = self.node_name
            config.linux.security_context.namespace_options.network = pb.NODE
        return config

    async def ensure_sandbox(self, pod: dict[str, Any]) -> tuple[str, str, Any]:
        """(sandbox id, pod IP, sandbox config) of a ready sandbox, made if needed."""
        uid = pod["metadata"]["uid"]
        sandboxes = await self.sandboxes(uid)
        ready = [s for s in sandboxes if s.state == pb.SANDBOX_READY]
        if ready:
            sandbox = ready[0]
            config = self.sandbox_config(pod, sandbox.metadata.attempt)
            status = await self.cri.call(
                "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox.id)
            )
            return sandbox.id, status.status.network.ip, config
        for old in sandboxes:  # a dead sandbox: its containers go with it
            await self.cri.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=old.id))
            await self.cri.call(
                "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=old.id)
            )
        config = self.sandbox_config(pod, len(sandboxes))
        answer = await self.cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=config))
        status = await self.cri.call(
            "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=answer.pod_sandbox_id)
        )
        ip = status.status.network.ip
        if (pod.get("spec") or {}).get("hostNetwork"):
            ip = self.node_ip
        return answer.pod_sandbox_id, ip, config

    # -- containers ------------------------------------------------------------------------

    async def ensure_image(self, container: dict[str, Any]) -> tuple[str, str] | None:
        """None when the image is present; else the waiting (reason, message)."""
        image = container.get("image", "")
        status = await self.cri.image_call(
            "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image))
        )
        if status.HasField("image"):
            self.image_failures.pop(image, None)
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

    def container_config(
        self, pod: dict[str, Any], container: dict[str, Any], attempt: int, pod_ip: str
    ) -> Any:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        env: dict[str, str] = {}
        for item in container.get("env") or []:
            name = item.get("name", "")
            if "value" in item:
                env[name] = expand(str(item.get("value") or ""), env)
            elif ref := (item.get("valueFrom") or {}).get("fieldRef"):
                env[name] = field_value(pod, str(ref.get("fieldPath", "")), pod_ip, self.node_ip)
            else:
                env[name] = ""
        grace = spec.get("terminationGracePeriodSeconds")
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=container["name"], attempt=attempt),
            image=pb.ImageSpec(image=container.get("image", "")),
            command=[expand(c, env) for c in container.get("command") or []],
            args=[expand(a, env) for a in container.get("args") or []],
            working_dir=container.get("workingDir") or "",
            envs=[pb.KeyValue(key=k, value=v.encode()) for k, v in env.items()],
            labels={
                POD_UID: meta["uid"],
                POD_NAME: meta["name"],
                POD_NAMESPACE: meta.get("namespace", "default"),
                CONTAINER_NAME: container["name"],
            },
            annotations={
                RESTART_COUNT: str(attempt),
                GRACE_PERIOD: str(30 if grace is None else grace),
            },
            log_path=f"{container['name']}/{attempt}.log",
            stdin=bool(container.get("stdin")),
            stdin_once=bool(container.get("stdinOnce")),
            tty=bool(container.get("tty")),
        )
        config.linux.resources.CopyFrom(linux_resources(container))
        if self.volumes is not None:
            config.mounts.extend(self.volumes.mounts(pod, container))
        security = container.get("securityContext") or {}
        pod_security = spec.get("securityContext") or {}
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        group = security.get("runAsGroup", pod_security.get("runAsGroup"))
        if user is not None:
            config.linux.security_context.run_as_user.value = int(user)
        if group is not None:
            config.linux.security_context.run_as_group.value = int(group)
        config.linux.security_context.readonly_rootfs = bool(security.get("readOnlyRootFilesystem"))
        config.linux.security_context.privileged = bool(security.get("privileged"))
        return config

    async def start_container(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        attempt: int,
        sandbox: tuple[str, str, Any],
    ) -> tuple[str, str] | None:
        """Creates and starts one container; a waiting (reason, message) if it cannot."""
        problem = await self.ensure_image(container)
        if problem is not None:
            return problem
        sandbox_id, pod_ip, sandbox_config = sandbox
        try:
            created = await self.cri.call(
                "CreateContainer",
                pb.CreateContainerRequest(
                    pod_sandbox_id=sandbox_id,
                    config=self.container_config(pod, container, attempt, pod_ip),
                    sandbox_config=sandbox_config,
                ),
            )
        except grpc.aio.AioRpcError as err:
            return ("CreateContainerError", err.details() or str(err.code()))
        try:
            await self.cri.call(
                "StartContainer", pb.StartContainerRequest(container_id=created.container_id)
            )
        except grpc.aio.AioRpcError as err:
            return ("RunContainerError", err.details() or str(err.code()))
        return None

    @staticmethod
    def should_restart(policy: str, info: ContainerInfo) -> bool:
        if policy == "Never":
            return False
        if policy == "OnFailure":
            return info.exit_code != 0
        return True

    async def sync(self, pod: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        """One pass; (the status to report, seconds until a backoff expires or None)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        if self.volumes is not None:
            try:
                await self.volumes.setup(pod)
            except MountError:  # as upstream: no sandbox, the pod stays ContainerCreating
                status = pod_status(
                    pod,
                    sandbox_ready=False,
                    pod_ip="",
                    host_ip=self.node_ip,
                    containers=await self.containers(uid),
                    waiting={},
                    runtime=self.runtime_name,
                    now=now_rfc3339(),
                )
                return status, 2.0
        sandbox = await self.ensure_sandbox(pod)
        containers = await self.containers(uid)
        waiting: dict[str, tuple[str, str]] = {}
        wake: float | None = None
        policy = spec.get("restartPolicy") or "Always"
        now = time.monotonic()
        changed = False
        for container in spec.get("containers") or []:
            name = container["name"]
            history = containers.get(name, [])
            current = history[-1] if history else None
            key = f"{uid}/{name}"
            if current is None:
                problem = await self.start_container(pod, container, 0, sandbox)
                changed = True
            elif current.state == pb.CONTAINER_CREATED:
                await self.cri.call(
                    "StartContainer", pb.StartContainerRequest(container_id=current.id)
                )
                problem, changed = None, True
            elif current.state == pb.CONTAINER_EXITED and self.should_restart(policy, current):
                left = self.backoff.remaining(key, now)
                if left > 0:
                    delay = self.backoff.delays[key]
                    problem = (
                        "CrashLoopBackOff",
                        f"back-off {int(delay)}s restarting failed container={name} "
                        f"pod={meta['name']}_{meta.get('namespace', 'default')}({uid})",
                    )
                    wake = left if wake is None else min(wake, left)
                else:
                    # As upstream's doBackOff: restart now, and back off the next restart.
                    ran = max(0.0, (current.finished_at - current.started_at) / 1e9)
                    self.backoff.next(key, now, ran)
                    attempt = current.attempt + 1
                    problem = await self.start_container(pod, container, attempt, sandbox)
                    changed = True
            else:
                problem = None
            if problem is not None:
                waiting[name] = problem
                if problem[0] in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"):
                    wake = 10.0 if wake is None else min(wake, 10.0)
        if changed:
            containers = await self.containers(uid)
        status = pod_status(
            pod,
            sandbox_ready=True,
            pod_ip=sandbox[1],
            host_ip=self.node_ip,
            containers=containers,
            waiting=waiting,
            runtime=self.runtime_name,
            now=now_rfc3339(),
        )
        return status, wake

    async def terminate(self, pod: dict[str, Any], grace: int) -> dict[str, list[ContainerInfo]]:
        """Stops every container with `grace` seconds, then stops and removes the sandboxes."""
        uid = pod["metadata"]["uid"]
        containers = await self.containers(uid)
        running = [
            history[-1]
            for history in containers.values()
            if history and history[-1].state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED)
        ]
        await asyncio.gather(
            *(
                self.cri.call(
                    "StopContainer",
                    pb.StopContainerRequest(container_id=c.id, timeout=grace),
                    deadline=grace + 60,
                )
                for c in running
            )
        )
        final = await self.containers(uid)
        for sandbox in await self.sandboxes(uid):
            await self.cri.call(
                "StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.id)
            )
            await self.cri.call(
                "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id)
            )
        self.backoff.forget(f"{uid}/")
        if self.volumes is not None:
            await self.volumes.teardown(uid)
        return final
