"""Stopping one container as upstream's killContainer: preStop hook, SIGTERM, grace, SIGKILL.

`ContainerKiller.kill(pod, container, id, grace)` records a `Killing` event, runs the
container's preStop hook within the grace period (kube.kubelet.hooks; a failed hook is a
`FailedPreStopHook` event), then asks the runtime to stop it with what is left of the grace
period, at least upstream's minimumGracePeriodInSeconds (2) after a hook: StopContainer
sends SIGTERM, waits, then SIGKILL. `grace` is the period a container is stopped with: its
probe's own terminationGracePeriodSeconds, else the pod's (30 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.kubelet.hooks import pod_label, run_hook
from kube.kubelet.podevents import PodEvents

log = logging.getLogger("kube.kubelet.pods")

MIN_GRACE = 2  # upstream's minimumGracePeriodInSeconds after a preStop hook


class ContainerKiller:
    """Stops containers of the node's pods."""

    def __init__(self, cri: RuntimeClient, events: PodEvents) -> None:
        self.cri = cri
        self.events = events
        self.pod_ips: dict[str, str] = {}  # pod uid -> IP, for preStop httpGet at termination

    async def kill(
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
        self.events.event(pod, "Normal", "Killing", message or f"Stopping container {name}", name)
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
                self.events.event(pod, "Warning", "FailedPreStopHook", failed, name)
            grace = max(MIN_GRACE, grace - int(time.monotonic() - started))
        await self.cri.call(
            "StopContainer",
            pb.StopContainerRequest(container_id=container_id, timeout=grace),
            deadline=grace + 60,
        )


def grace_period(pod: dict[str, Any], probe: dict[str, Any] | None = None) -> int:
    """The grace period to stop a container with: the probe's own, else the pod's (30 s)."""
    if probe and probe.get("terminationGracePeriodSeconds") is not None:
        return int(probe["terminationGracePeriodSeconds"])
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30 if grace is None else int(grace)
