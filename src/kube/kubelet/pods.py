"""Syncing one pod with the runtime: upstream's SyncPod for one pass, and the pod's termination.

`PodSyncer.sync(pod)` sets the pod's volumes up (kube.kubelet.volumes; a volume that cannot be
made leaves the pod without a sandbox, as upstream), makes sure it has a ready sandbox
(kube.kubelet.sandboxes), runs the init containers in order (sidecars kept running), then keeps
each container as the restartPolicy says (kube.kubelet.restarts: start, restart with
CrashLoopBackOff, kill on a failed liveness or startup probe; the start itself in
kube.kubelet.starting), and returns the pod status computed from what the runtime then reports
(kube.kubelet.runtimeview, kube.kubelet.status). `terminate(pod, grace)` stops the containers
(kube.kubelet.killing: preStop hooks first, within the grace period), then the sidecars last
first, then the sandbox, then removes it. Events go through kube.kubelet.podevents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api.meta import now_rfc3339
from kube.client.clock import Clock
from kube.client.rest import RESTClient
from kube.cri.client import RuntimeClient
from kube.kubelet.backoff import Backoff
from kube.kubelet.dns import DNSConfigurer
from kube.kubelet.envvars import ObjectSource, api_source
from kube.kubelet.killing import MIN_GRACE, ContainerKiller, grace_period
from kube.kubelet.podevents import PodEvents, Recorder
from kube.kubelet.probes import ProbeManager, run_probe
from kube.kubelet.restarts import KeepResult, Restarter, should_restart
from kube.kubelet.runtimeview import RuntimeView, runtime_view
from kube.kubelet.sandboxes import SandboxStep
from kube.kubelet.starting import ContainerStarter
from kube.kubelet.status import ContainerInfo, is_sidecar, pod_status
from kube.kubelet.termination import with_messages
from kube.kubelet.volumes import TOKENS, WITHOUT_TOKENS, MountError, VolumeManager


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
        self.node_ip = node_ip
        self.runtime_name = runtime_name
        self.volumes = volumes
        # ConfigMaps and Secrets for env (the API, through the kubelet's client).
        if objects is None:
            objects = api_source(client) if client is not None else _no_objects
        self.events = PodEvents(recorder)
        self.view = RuntimeView(cri)
        self.sandbox = SandboxStep(
            cri,
            self.view,
            self.events,
            node_name=node_name,
            node_ip=node_ip,
            pod_logs_dir=pod_logs_dir.rstrip("/"),
            cgroup_root=cgroup_root.rstrip("/"),
            dns=dns,
        )
        self.killer = ContainerKiller(cri, self.events)
        self.starter = ContainerStarter(
            cri,
            self.events,
            self.killer,
            node_ip=node_ip,
            objects=objects,
            volumes=volumes,
            root_dir=root_dir,
            dns=dns,
        )
        self.probes = ProbeManager(
            partial(run_probe, cri),
            on_change or (lambda _uid: None),
            self.events.container_event,
            clock=clock,
        )
        self.backoff = Backoff()
        self.restarter = Restarter(cri, self.starter, self.killer, self.probes, self.backoff)
        # pod uid -> the runtime's objects and states the last sync saw (kube.kubelet.pleg's
        # keys): a relist showing just that needs no other sync.
        self.seen: dict[str, frozenset[tuple[str, int]]] = {}

    def event(
        self, pod: dict[str, Any], kind: str, reason: str, message: str, container: str = ""
    ) -> None:
        """An Event about the pod, or about one of its containers (kube.kubelet.podevents)."""
        self.events.event(pod, kind, reason, message, container)

    async def kill_container(
        self,
        pod: dict[str, Any],
        container: dict[str, Any] | None,
        container_id: str,
        grace: int,
        message: str = "",
    ) -> None:
        """Stops one container as upstream's killContainer (kube.kubelet.killing)."""
        await self.killer.kill(pod, container, container_id, grace, message)

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
        if self.volumes is None:
            sandbox = await self.sandbox.ensure(pod)
        else:
            try:
                await self.volumes.setup(pod, WITHOUT_TOKENS)
            except MountError:  # as upstream: no sandbox, the pod stays ContainerCreating
                return await self._not_ready(pod), 2.0
            # The TokenRequest goes while the sandbox is made: it was the one API round trip
            # between the pod's arrival and its sandbox. (A missing ConfigMap or Secret has
            # failed the pod above, before any sandbox, as upstream.)
            made, tokens = await asyncio.gather(
                self.sandbox.ensure(pod),
                self.volumes.setup(pod, TOKENS),
                return_exceptions=True,
            )
            if isinstance(made, BaseException):
                raise made
            if isinstance(tokens, MountError):
                return await self._not_ready(pod), 2.0
            if isinstance(tokens, BaseException):
                raise tokens
            sandbox = made
        self.killer.pod_ips[uid] = sandbox[1]
        if self.sandbox.made_first(sandbox[0]):  # the CRI's containers are in a sandbox
            containers: dict[str, list[ContainerInfo]] = {}
        else:
            containers = await self.view.containers(uid)
        # A pass that begins with no containers knows them all once it has made them.
        none_before = not containers
        self.starter.made.pop(uid, None)
        self.probes.update_pod(pod, containers, sandbox[1])
        waiting: dict[str, tuple[str, str]] = {}
        wakes: list[float] = []
        policy = spec.get("restartPolicy") or "Always"
        changed = False

        def note(name: str, result: KeepResult) -> None:
            nonlocal changed
            problem, did, wake = result
            changed = changed or did
            if wake is not None:
                wakes.append(wake)
            if problem is not None:
                waiting[name] = problem
                if problem[0] in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"):
                    wakes.append(10.0)

        keep = self.restarter.keep
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
                note(name, await keep(pod, container, history, sandbox, "Always"))
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
            note(name, await keep(pod, container, history, sandbox, "OnFailure"))
            break
        if initialized:
            for container in regular:
                history = containers.get(container["name"], [])
                note(container["name"], await keep(pod, container, history, sandbox, policy))
        if changed:
            made = self.starter.made.pop(uid, None)
            containers = await self.view.containers(uid, made if none_before and made else None)
            self.probes.update_pod(pod, containers, sandbox[1])
        if initialized and sidecars and _all_done(regular, containers, policy, waiting):
            await self._stop_sidecars(pod, sidecars, containers)
            containers = await self.view.containers(uid)
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

    async def _not_ready(self, pod: dict[str, Any]) -> dict[str, Any]:
        """The status of a pod whose volumes could not be set up: ContainerCreating."""
        return pod_status(
            pod,
            sandbox_ready=False,
            pod_ip="",
            host_ip=self.node_ip,
            containers=await self.view.containers(pod["metadata"]["uid"]),
            waiting={},
            runtime=self.runtime_name,
            now=now_rfc3339(),
        )

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
                await self.killer.kill(pod, container, history[-1].id, grace_period(pod))

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
        containers = await self.view.containers(uid)
        running = {
            name: history[-1]
            for name, history in containers.items()
            if history and history[-1].state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED)
        }
        sidecar_names = [c["name"] for c in sidecars]
        started = time.monotonic()
        await asyncio.gather(
            *(
                self.killer.kill(pod, specs.get(name), info.id, grace)
                for name, info in running.items()
                if name not in sidecar_names
            )
        )
        for name in reversed(sidecar_names):
            if name in running:
                left = max(MIN_GRACE if grace else 0, grace - int(time.monotonic() - started))
                await self.killer.kill(pod, specs.get(name), running[name].id, left)
        final = await self.view.containers(uid)
        await self.sandbox.stop_all(uid, remove=remove)
        self.backoff.forget(f"{uid}/")
        self.killer.pod_ips.pop(uid, None)
        self.starter.made.pop(uid, None)
        self.seen.pop(uid, None)
        if self.volumes is not None:
            await self.volumes.teardown(uid)
        return with_messages(pod, final)


def _all_done(
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
        if current.state != pb.CONTAINER_EXITED or should_restart(policy, current):
            return False
    return True


async def _no_objects(_kind: str, _namespace: str, _name: str) -> dict[str, Any] | None:
    return None
