"""Syncing one pod with the runtime: sandbox, images, containers, restarts, termination.

`PodSyncer.sync(pod)` is upstream's SyncPod for one pass: make sure the pod has a ready sandbox
(RunPodSandbox, with the pod's hostname, DNS, log directory and cgroup parent), that each
container's image is present (the "pull": ImageStatus, then PullImage, which the built-in
runtime answers from its store), run the init containers in order (sidecars kept running),
then create and start the containers that are missing, restart exited ones as the
restartPolicy says (with upstream's CrashLoopBackOff, kube.kubelet.backoff) or because their
liveness/startup probe failed (kube.kubelet.probes), and return the pod status computed from
what the runtime then reports (kube.kubelet.status). A container starts with its environment
(kube.kubelet.envvars) and runs its postStart hook; it is stopped with its preStop hook first,
within the grace period (kube.kubelet.hooks). `terminate(pod, grace)` stops the containers,
then the sidecars last first, then the sandbox, then removes it. The CRI configs are built by
kube.kubelet.specs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api.meta import now_rfc3339
from kube.api.quantity import QuantityError, parse
from kube.client.clock import Clock
from kube.client.rest import RESTClient
from kube.cri.client import RuntimeClient
from kube.kubelet.backoff import Backoff
from kube.kubelet.dns import DEFAULT_CLUSTER_DOMAIN, DNSConfigurer
from kube.kubelet.envvars import EnvError, ObjectSource, api_source, build_env
from kube.kubelet.etchosts import ETC_HOSTS, ensure_hosts_file, wants_hosts_mount
from kube.kubelet.hooks import pod_label, run_hook
from kube.kubelet.probes import ProbeManager, run_probe
from kube.kubelet.specs import CONTAINER_NAME, POD_UID, container_config, sandbox_config
from kube.kubelet.status import ContainerInfo, is_sidecar, pod_status
from kube.kubelet.termination import (
    DEFAULT_PATH,
    message_file,
    mount_of,
    with_messages,
)
from kube.kubelet.volumes import MountError, VolumeManager

log = logging.getLogger("kube.kubelet.pods")


class Recorder(Protocol):
    """EventRecorder.event: (the involved object, event type, reason, message), and the
    reference's fieldPath for an event about one container (`spec.containers{name}`)."""

    def __call__(
        self,
        obj: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
        /,
        *,
        field_path: str = "",
    ) -> None: ...


# upstream's Normal events of a container's start (kuberuntime startContainer, the image
# manager's): recorded through the events client, so they never hold up a status write.
CONTAINER_STEPS = ("Pulled", "Created", "Started")
PRESENT = 'Container image "%s" already present on machine and can be accessed by the pod'
MIN_GRACE = 2  # upstream's minimumGracePeriodInSeconds after a preStop hook
CPU_PERIOD = 100_000
MIN_SHARES = 2


class SyncError(Exception):
    """A sync pass could not finish; the worker retries."""


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
        client: RESTClient | None = None,
        objects: ObjectSource | None = None,
        recorder: Recorder | None = None,
        on_change: Callable[[str], None] | None = None,
        root_dir: Path | None = None,
        clock: Clock | None = None,
        dns: DNSConfigurer | None = None,
    ) -> None:
        self.cri = cri
        self.dns = dns  # None: only spec.dnsConfig (kube.kubelet.dns)
        self.node_name = node_name
        self.node_ip = node_ip
        self.pod_logs_dir = pod_logs_dir.rstrip("/")
        self.runtime_name = runtime_name
        self.cgroup_root = cgroup_root.rstrip("/")
        self.backoff = Backoff()
        self.image_failures: dict[str, int] = {}
        self.volumes = volumes
        # ConfigMaps and Secrets for env (the API, through the kubelet's client).
        if objects is None:
            objects = api_source(client) if client is not None else _no_objects
        self.objects: ObjectSource = objects
        self.recorder = recorder
        # Where termination-message files go (None: no terminationMessagePath mount).
        self.root_dir = root_dir
        self.pod_ips: dict[str, str] = {}  # pod uid -> IP, for preStop httpGet at termination
        # pod uid -> the runtime's objects and states the last sync saw (kube.kubelet.pleg's
        # keys): a relist showing just that needs no other sync.
        self.seen: dict[str, frozenset[tuple[str, int]]] = {}
        # sandbox id -> its IP (PodSandboxStatus once per sandbox, not on every sync)
        self.sandbox_ips: dict[str, str] = {}
        # Sandboxes just made for a pod that had none: it has no containers to list yet.
        self.first_sandboxes: set[str] = set()
        # pod uid -> the containers this sync pass created (CreateContainer's ids).
        self.made: dict[str, list[str]] = {}
        self.probes = ProbeManager(
            partial(run_probe, cri),
            on_change or (lambda _uid: None),
            self._container_event,
            clock=clock,
        )

    # -- events, probes --------------------------------------------------------------------

    def event(
        self, pod: dict[str, Any], kind: str, reason: str, message: str, container: str = ""
    ) -> None:
        """An Event about the pod (Killing, Unhealthy, Failed...), as the kubelet records; about
        one of its containers when `container` names it (the reference's fieldPath, which
        `kubectl describe` shows before the message, as upstream's container reference)."""
        if kind != "Normal" or reason not in CONTAINER_STEPS:
            log.info("pod %s: %s %s: %s", pod_label(pod), kind, reason, message)
        if self.recorder is None or not (pod.get("metadata") or {}).get("name"):
            return
        involved = {"apiVersion": "v1", "kind": "Pod", "metadata": pod.get("metadata") or {}}
        if container:
            path = field_path(pod, container)
            self.recorder(involved, kind, reason, message, field_path=path)
        else:
            self.recorder(involved, kind, reason, message)

    def _container_event(
        self, pod: dict[str, Any], container: str, kind: str, reason: str, message: str
    ) -> None:
        self.event(pod, kind, reason, message, container)

    # -- runtime views ---------------------------------------------------------------------

    async def sandboxes(self, uid: str) -> list[Any]:
        """The pod's sandboxes, newest first."""
        answer = await self.cri.call(
            "ListPodSandbox",
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={POD_UID: uid})),
        )
        return sorted(answer.items, key=lambda s: s.created_at, reverse=True)

    async def containers(
        self, uid: str, ids: list[str] | None = None
    ) -> dict[str, list[ContainerInfo]]:
        """The pod's containers by name, oldest first (the newest is the current one). With
        `ids`, the pod's containers are known to be just those (a pass that began with none
        made them): their statuses, without listing the runtime's containers for the pod."""
        if ids is None:
            answer = await self.cri.call(
                "ListContainers",
                pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector={POD_UID: uid})),
            )
            ids = [item.id for item in answer.containers]
        found: dict[str, list[ContainerInfo]] = {}
        for container_id in ids:
            try:
                status = (
                    await self.cri.call(
                        "ContainerStatus", pb.ContainerStatusRequest(container_id=container_id)
                    )
                ).status
            except grpc.aio.AioRpcError:
                continue
            name = status.labels.get(CONTAINER_NAME) or status.metadata.name
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
                    log_path=status.log_path,
                    message_path=mount_of(status),
                )
            )
        for history in found.values():
            history.sort(key=lambda c: (c.attempt, c.created_at))
        return found

    # -- sandbox ---------------------------------------------------------------------------

    def sandbox_config(self, pod: dict[str, Any], attempt: int, events: bool = False) -> Any:
        dns = None
        if self.dns is not None:
            dns, warnings = self.dns.pod_dns(pod)
            for kind, reason, message in warnings if events else []:
                self.event(pod, kind, reason, message)
        return sandbox_config(
            pod,
            attempt,
            node_name=self.node_name,
            pod_logs_dir=self.pod_logs_dir,
            cgroup_root=self.cgroup_root,
            dns=dns,
            cluster_domain=self.dns.cluster_domain if self.dns else DEFAULT_CLUSTER_DOMAIN,
        )

    async def ensure_sandbox(self, pod: dict[str, Any]) -> tuple[str, str, Any]:
        """(sandbox id, pod IP, sandbox config) of a ready sandbox, made if needed."""
        uid = pod["metadata"]["uid"]
        sandboxes = await self.sandboxes(uid)
        ready = [s for s in sandboxes if s.state == pb.SANDBOX_READY]
        if ready:
            sandbox = ready[0]
            config = self.sandbox_config(pod, sandbox.metadata.attempt)
            ip = self.sandbox_ips.get(sandbox.id)
            if ip is None:
                status = await self.cri.call(
                    "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox.id)
                )
                ip = self.sandbox_ips[sandbox.id] = status.status.network.ip
            return sandbox.id, ip, config
        for old in sandboxes:  # a dead sandbox: its containers go with it
            self.sandbox_ips.pop(old.id, None)
            await self.cri.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=old.id))
            await self.cri.call(
                "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=old.id)
            )
        config = self.sandbox_config(pod, len(sandboxes), events=True)
        answer = await self.cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=config))
        if not sandboxes:
            self.first_sandboxes.add(answer.pod_sandbox_id)
        status = await self.cri.call(
            "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=answer.pod_sandbox_id)
        )
        ip = self.sandbox_ips[answer.pod_sandbox_id] = status.status.network.ip
        if (pod.get("spec") or {}).get("hostNetwork"):
            ip = self.node_ip
        return answer.pod_sandbox_id, ip, config

    # -- containers ------------------------------------------------------------------------

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
            self.event(pod, "Normal", "Pulled", PRESENT % image, container.get("name", ""))
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

    async def start_container(
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
        try:
            env = await build_env(pod, container, self.objects, pod_ip=pod_ip, host_ip=self.node_ip)
        except EnvError as err:
            self.event(pod, "Warning", "Failed", f"Error: {err}", str(container.get("name", "")))
            return ("CreateContainerConfigError", str(err))
        try:
            created = await self.cri.call(
                "CreateContainer",
                pb.CreateContainerRequest(
                    pod_sandbox_id=sandbox_id,
                    config=self.container_config(pod, container, attempt, env, pod_ip),
                    sandbox_config=sandbox_config,
                ),
            )
        except grpc.aio.AioRpcError as err:
            return ("CreateContainerError", err.details() or str(err.code()))
        self.made.setdefault(str(pod["metadata"]["uid"]), []).append(created.container_id)
        name = str(container.get("name", ""))
        self.event(pod, "Normal", "Created", "Container created", name)
        try:
            await self.cri.call(
                "StartContainer", pb.StartContainerRequest(container_id=created.container_id)
            )
        except grpc.aio.AioRpcError as err:
            return ("RunContainerError", err.details() or str(err.code()))
        self.event(pod, "Normal", "Started", "Container started", name)
        hook = (container.get("lifecycle") or {}).get("postStart")
        if isinstance(hook, dict):
            failed = await run_hook(self.cri, hook, pod, container, created.container_id, pod_ip)
            if failed is not None:
                # As upstream: the container is killed and its restart follows the policy.
                self.event(pod, "Warning", "FailedPostStartHook", failed, name)
                await self.kill_container(
                    pod, container, created.container_id, _grace(pod), "FailedPostStartHook"
                )
                return ("PostStartHookError", failed)
        return None

    async def kill_container(
        self,
        pod: dict[str, Any],
        container: dict[str, Any] | None,
        container_id: str,
        grace: int,
        message: str = "",
    ) -> None:
        """upstream's killContainer: the preStop hook (within the grace period), then
        StopContainer (SIGTERM, the rest of the grace period, SIGKILL), with a Killing event."""
        name = (container or {}).get("name", "")
        self.event(pod, "Normal", "Killing", message or f"Stopping container {name}", name)
        hook = ((container or {}).get("lifecycle") or {}).get("preStop")
        if isinstance(hook, dict) and grace > 0:
            started = time.monotonic()
            pod_ip = self.pod_ips.get(str(pod["metadata"].get("uid", "")), "")
            try:
                async with asyncio.timeout(grace):
                    failed = await run_hook(
                        self.cri, hook, pod, container or {}, container_id, pod_ip, grace
                    )
            except TimeoutError:
                failed = None
                log.info("preStop hook of %s in %s ran past its grace", name, pod_label(pod))
            if failed is not None:
                self.event(pod, "Warning", "FailedPreStopHook", failed, name)
            grace = max(MIN_GRACE, grace - int(time.monotonic() - started))
        await self.cri.call(
            "StopContainer",
            pb.StopContainerRequest(container_id=container_id, timeout=grace),
            deadline=grace + 60,
        )

    @staticmethod
    def should_restart(policy: str, info: ContainerInfo) -> bool:
        if policy == "Never":
            return False
        if policy == "OnFailure":
            return info.exit_code != 0
        return True

    async def _keep(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        history: list[ContainerInfo],
        sandbox: tuple[str, str, Any],
        policy: str,
    ) -> tuple[tuple[str, str] | None, bool, float | None]:
        """One container toward its desired state: (waiting problem, changed, wake in s).

        Starts it when missing, restarts it as `policy` says with CrashLoopBackOff, and kills
        an instance whose liveness or startup probe failed (then restarts it likewise).
        """
        meta = pod["metadata"]
        uid, name = meta["uid"], container["name"]
        current = history[-1] if history else None
        key = f"{uid}/{name}"
        now = time.monotonic()
        if current is None:
            return await self.start_container(pod, container, 0, sandbox), True, None
        if current.state == pb.CONTAINER_CREATED:
            await self.cri.call("StartContainer", pb.StartContainerRequest(container_id=current.id))
            return None, True, None
        if current.state == pb.CONTAINER_RUNNING:
            kind = self.probes.failed(uid, name, current.id)
            if kind is None:
                return None, False, None
            await self.kill_container(
                pod,
                container,
                current.id,
                _grace(pod, container.get(f"{kind}Probe")),
                f"Container {name} failed {kind} probe, will be restarted",
            )
            status = await self.cri.call(
                "ContainerStatus", pb.ContainerStatusRequest(container_id=current.id)
            )
            current = replace(
                current,
                state=pb.CONTAINER_EXITED,
                exit_code=status.status.exit_code,
                finished_at=status.status.finished_at,
            )
        if current.state != pb.CONTAINER_EXITED or not self.should_restart(policy, current):
            return None, False, None
        left = self.backoff.remaining(key, now)
        if left > 0:
            delay = self.backoff.delays[key]
            problem = (
                "CrashLoopBackOff",
                f"back-off {int(delay)}s restarting failed container={name} "
                f"pod={meta['name']}_{meta.get('namespace', 'default')}({uid})",
            )
            return problem, False, left
        # As upstream's doBackOff: restart now, and back off the next restart.
        ran = max(0.0, (current.finished_at - current.started_at) / 1e9)
        self.backoff.next(key, now, ran)
        await self._remove_dead(history[:-1])
        return await self.start_container(pod, container, current.attempt + 1, sandbox), True, None

    async def _remove_dead(self, instances: list[ContainerInfo]) -> None:
        """Removes exited instances older than the one being restarted: as upstream's
        container GC with maxPerPodContainer=1, one dead instance per container is kept (the
        one `kubectl logs --previous` reads)."""
        for old in instances:
            if old.state == pb.CONTAINER_EXITED:
                try:
                    await self.cri.call(
                        "RemoveContainer", pb.RemoveContainerRequest(container_id=old.id)
                    )
                except grpc.aio.AioRpcError as err:
                    log.warning("removing dead container %s failed: %s", old.id, err.details())

    async def sync(self, pod: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        """One pass; (the status to report, seconds until a backoff expires or None).

        Init containers first, in order: a regular one must exit 0 before the next starts (a
        failure is retried with backoff, or fails the pod under restartPolicy Never); a sidecar
        (restartPolicy Always) must be running and started, and is then kept running. Once
        initialized, the containers run as the pod's restartPolicy says; when they are all
        done for good, the sidecars are stopped (last first) so the pod can complete.
        """
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
        self.pod_ips[uid] = sandbox[1]
        if sandbox[0] in self.first_sandboxes:  # the CRI's containers are in a sandbox
            self.first_sandboxes.discard(sandbox[0])
            containers: dict[str, list[ContainerInfo]] = {}
        else:
            containers = await self.containers(uid)
        # A pass that begins with no containers knows them all once it has made them.
        none_before = not containers
        self.made.pop(uid, None)
        self.probes.update_pod(pod, containers, sandbox[1])
        waiting: dict[str, tuple[str, str]] = {}
        wakes: list[float] = []
        policy = spec.get("restartPolicy") or "Always"
        changed = False

        def note(name: str, result: tuple[tuple[str, str] | None, bool, float | None]) -> None:
            nonlocal changed
            problem, did, wake = result
            changed = changed or did
            if wake is not None:
                wakes.append(wake)
            if problem is not None:
                waiting[name] = problem
                if problem[0] in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"):
                    wakes.append(10.0)

        init_specs = spec.get("initContainers") or []
        sidecars = [c for c in init_specs if is_sidecar(c)]
        regular = spec.get("containers") or []
        # Once containers have run, the pod is initialized for good: init containers are not
        # run again, and a sidecar's restart does not hold the others back.
        already = any(containers.get(c["name"]) for c in regular)
        initialized = True
        for container in init_specs:
            name = container["name"]
            history = containers.get(name, [])
            current = history[-1] if history else None
            if is_sidecar(container):
                note(name, await self._keep(pod, container, history, sandbox, "Always"))
                started = current is not None and current.state == pb.CONTAINER_RUNNING
                if started and current is not None:
                    started = self.probes.probed(uid, name, current.id).started
                elif current is None and name not in waiting:
                    started = "startupProbe" not in container  # started in this pass
                if not started and not already:
                    initialized = False
                    break
                continue
            if already:
                continue
            if current is not None and current.state == pb.CONTAINER_EXITED:
                if current.exit_code == 0:
                    continue
                if policy == "Never":  # the pod has failed
                    initialized = False
                    break
            initialized = False
            note(name, await self._keep(pod, container, history, sandbox, "OnFailure"))
            break
        if initialized:
            for container in regular:
                history = containers.get(container["name"], [])
                note(container["name"], await self._keep(pod, container, history, sandbox, policy))
        if changed:
            made = self.made.pop(uid, None)
            containers = await self.containers(uid, made if none_before and made else None)
            self.probes.update_pod(pod, containers, sandbox[1])
        if initialized and sidecars and self._all_done(regular, containers, policy, waiting):
            await self._stop_sidecars(pod, sidecars, containers)
            containers = await self.containers(uid)
        status = pod_status(
            pod,
            sandbox_ready=True,
            pod_ip=sandbox[1],
            host_ip=self.node_ip,
            containers=with_messages(pod, containers),
            waiting=waiting,
            runtime=self.runtime_name,
            now=now_rfc3339(),
            probed=self.probes.probed_pod(uid, containers),
        )
        self.seen[uid] = runtime_view(sandbox[0], containers)
        return status, (min(wakes) if wakes else None)

    def _all_done(
        self,
        regular: list[dict[str, Any]],
        containers: dict[str, list[ContainerInfo]],
        policy: str,
        waiting: dict[str, tuple[str, str]],
    ) -> bool:
        """Every container has exited and none will be restarted (the pod is completing)."""
        for container in regular:
            history = containers.get(container["name"], [])
            if not history or container["name"] in waiting:
                return False
            current = history[-1]
            if current.state != pb.CONTAINER_EXITED or self.should_restart(policy, current):
                return False
        return True

    async def _stop_sidecars(
        self,
        pod: dict[str, Any],
        sidecars: list[dict[str, Any]],
        containers: dict[str, list[ContainerInfo]],
    ) -> None:
        """Stops running sidecars in reverse order (upstream stops them after the others)."""
        for container in reversed(sidecars):
            history = containers.get(container["name"], [])
            if history and history[-1].state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED):
                await self.kill_container(pod, container, history[-1].id, _grace(pod))

    async def terminate(
        self, pod: dict[str, Any], grace: int, *, remove: bool = True
    ) -> dict[str, list[ContainerInfo]]:
        """Stops the containers with `grace` seconds (preStop hooks first, within it), then the
        sidecars last first, then stops and (with `remove`) removes the sandboxes.

        A pod that finished (Succeeded or Failed) is stopped without `remove`: as upstream,
        its exited containers stay, so `kubectl logs` still reads them, until the pod is
        deleted (or housekeeping finds it gone from the API)."""
        uid = pod["metadata"]["uid"]
        await self.probes.remove(uid)
        spec = pod.get("spec") or {}
        specs = {c["name"]: c for c in spec.get("containers") or []}
        sidecars = [c for c in spec.get("initContainers") or [] if is_sidecar(c)]
        specs.update({c["name"]: c for c in spec.get("initContainers") or []})
        containers = await self.containers(uid)
        running = {
            name: history[-1]
            for name, history in containers.items()
            if history and history[-1].state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED)
        }
        sidecar_names = [c["name"] for c in sidecars]
        started = time.monotonic()
        await asyncio.gather(
            *(
                self.kill_container(pod, specs.get(name), info.id, grace)
                for name, info in running.items()
                if name not in sidecar_names
            )
        )
        for name in reversed(sidecar_names):
            if name in running:
                left = max(MIN_GRACE if grace else 0, grace - int(time.monotonic() - started))
                await self.kill_container(pod, specs.get(name), running[name].id, left)
        final = await self.containers(uid)
        for sandbox in await self.sandboxes(uid):
            self.sandbox_ips.pop(sandbox.id, None)
            self.first_sandboxes.discard(sandbox.id)
            await self.cri.call(
                "StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.id)
            )
            if remove:
                await self.cri.call(
                    "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id)
                )
        self.backoff.forget(f"{uid}/")
        self.pod_ips.pop(uid, None)
        self.made.pop(uid, None)
        self.seen.pop(uid, None)
        if self.volumes is not None:
            await self.volumes.teardown(uid)
        return with_messages(pod, final)


def field_path(pod: dict[str, Any], container: str) -> str:
    """The fieldPath of a container's reference: `spec.containers{name}`, or the init or
    ephemeral container list it is in (upstream's GenerateContainerRef)."""
    spec = pod.get("spec") or {}
    for key in ("initContainers", "ephemeralContainers"):
        if any(c.get("name") == container for c in spec.get(key) or []):
            return f"spec.{key}{{{container}}}"
    return f"spec.containers{{{container}}}"


def runtime_view(
    sandbox_id: str, containers: dict[str, list[ContainerInfo]]
) -> frozenset[tuple[str, int]]:
    """A pod's ready sandbox and containers with their states, keyed as the PLEG keys them."""
    view: set[tuple[str, int]] = {("s/" + sandbox_id, int(pb.SANDBOX_READY))}
    view.update(("c/" + c.id, c.state) for history in containers.values() for c in history)
    return frozenset(view)


async def _no_objects(_kind: str, _namespace: str, _name: str) -> dict[str, Any] | None:
    return None


def _grace(pod: dict[str, Any], probe: dict[str, Any] | None = None) -> int:
    """The grace period to stop a container with: the probe's own, else the pod's (30 s)."""
    if probe and probe.get("terminationGracePeriodSeconds") is not None:
        return int(probe["terminationGracePeriodSeconds"])
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30 if grace is None else int(grace)
