"""Keeping one container running as its restart policy says, with CrashLoopBackOff.

`Restarter.keep(pod, container, history, sandbox, policy)` moves one container toward its
desired state: it starts a container that has none (kube.kubelet.starting), starts one left
created, kills an instance whose liveness or startup probe failed (kube.kubelet.probes,
kube.kubelet.killing), and restarts an exited one when `policy` (Always, OnFailure, Never)
says so: at once the first time, then after upstream's back-off (10 s doubling to 5 minutes,
reset after 10 minutes of running, kube.kubelet.backoff), waiting meanwhile with reason
CrashLoopBackOff. Before a restart the older exited instances are removed: one dead instance
per container is kept (upstream's container GC with maxPerPodContainer=1), the one
`kubectl logs --previous` reads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.kubelet.backoff import Backoff
from kube.kubelet.killing import ContainerKiller, grace_period
from kube.kubelet.probes import ProbeManager
from kube.kubelet.starting import ContainerStarter
from kube.kubelet.status import ContainerInfo

log = logging.getLogger("kube.kubelet.pods")

# (waiting problem, whether anything changed, seconds until a back-off expires)
KeepResult = tuple[tuple[str, str] | None, bool, float | None]


def should_restart(policy: str, info: ContainerInfo) -> bool:
    """Whether an exited container is restarted under the restartPolicy `policy`."""
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return info.exit_code != 0
    return True


class Restarter:
    """Starts and restarts the containers of the node's pods."""

    def __init__(
        self,
        cri: RuntimeClient,
        starter: ContainerStarter,
        killer: ContainerKiller,
        probes: ProbeManager,
        backoff: Backoff,
    ) -> None:
        self.cri = cri
        self.starter = starter
        self.killer = killer
        self.probes = probes
        self.backoff = backoff

    async def keep(
        self,
        pod: dict[str, Any],
        container: dict[str, Any],
        history: list[ContainerInfo],
        sandbox: tuple[str, str, Any],
        policy: str,
    ) -> KeepResult:
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
            return await self.starter.start(pod, container, 0, sandbox), True, None
        if current.state == pb.CONTAINER_CREATED:
            await self.cri.call("StartContainer", pb.StartContainerRequest(container_id=current.id))
            return None, True, None
        if current.state == pb.CONTAINER_RUNNING:
            kind = self.probes.failed(uid, name, current.id)
            if kind is None:
                return None, False, None
            await self.killer.kill(
                pod,
                container,
                current.id,
                grace_period(pod, container.get(f"{kind}Probe")),
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
        if current.state != pb.CONTAINER_EXITED or not should_restart(policy, current):
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
        await self.remove_dead(history[:-1])
        return await self.starter.start(pod, container, current.attempt + 1, sandbox), True, None

    async def remove_dead(self, instances: list[ContainerInfo]) -> None:
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
