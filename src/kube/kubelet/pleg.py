"""The pod lifecycle event generator: relists the runtime and says which pods changed.

As upstream's GenericPLEG: every second (`period`) it lists the runtime's sandboxes and
containers, compares each one's state with the previous relist, and calls `on_change(uid)` for
every pod with a container or sandbox that appeared, changed state or went away, so that pod's
worker syncs again (a container that exited gets restarted, its status reported).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient

log = logging.getLogger("kube.kubelet.pleg")

POD_UID = "io.kubernetes.pod.uid"
RELIST_PERIOD = 1.0


class PLEG:
    def __init__(
        self, cri: RuntimeClient, on_change: Callable[[str], None], period: float = RELIST_PERIOD
    ) -> None:
        self.cri = cri
        self.on_change = on_change
        self.period = period
        self.states: dict[str, tuple[str, int]] = {}  # object id -> (pod uid, state)
        self.pods: set[str] = set()  # uids the runtime has anything for
        self.healthy = False
        # When the relist that `states` came from began (time.monotonic()): what it shows is
        # the runtime at some moment after this, and may predate a sync that ended since.
        self.started = 0.0

    async def relist(self) -> set[str]:
        """One relist; the uids whose pods changed."""
        started = time.monotonic()
        sandboxes = await self.cri.call("ListPodSandbox", pb.ListPodSandboxRequest(), deadline=10)
        containers = await self.cri.call("ListContainers", pb.ListContainersRequest(), deadline=10)
        states: dict[str, tuple[str, int]] = {}
        for sandbox in sandboxes.items:
            uid = sandbox.labels.get(POD_UID) or sandbox.metadata.uid
            states["s/" + sandbox.id] = (uid, sandbox.state)
        for container in containers.containers:
            uid = container.labels.get(POD_UID, "")
            if uid:
                states["c/" + container.id] = (uid, container.state)
        changed = {
            uid for key, (uid, state) in states.items() if self.states.get(key) != (uid, state)
        }
        changed |= {uid for key, (uid, _) in self.states.items() if key not in states}
        self.states = states
        self.started = started
        self.pods = {uid for uid, _ in states.values()}
        return changed

    def view(self, uid: str) -> frozenset[tuple[str, int]]:
        """The pod's sandboxes and containers with their states at the last relist."""
        return frozenset((k, state) for k, (owner, state) in self.states.items() if owner == uid)

    def newer(self, uid: str, seen: frozenset[tuple[str, int]], synced_at: float) -> bool:
        """Whether the last relist shows the pod's runtime objects newer than `seen`, what
        a sync that ended at `synced_at` (time.monotonic()) saw of them.

        A relist that began after that sync ended is news if it shows anything else. One that
        began before (during the sync: the sync's sandbox without its container, or its
        container just created) is news only if it shows an object the sync did not see or
        one further on in its life than the sync saw (CRI states only move forward: a
        container created, running, exited; a sandbox ready, not ready): 100 starting pods
        each synced twice, the second time for a relist that had caught its first sync half
        way.
        """
        view = self.view(uid)
        if view == seen:
            return False
        if self.started >= synced_at:
            return True
        states = dict(seen)
        return any(key not in states or state > states[key] for key, state in view)

    async def run(self) -> None:
        while True:
            try:
                for uid in await self.relist():
                    self.on_change(uid)
                self.healthy = True
            except grpc.aio.AioRpcError as err:
                self.healthy = False
                log.warning("PLEG relist failed: %s", err.details() or err.code())
            await asyncio.sleep(self.period)
