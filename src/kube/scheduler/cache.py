"""The scheduler's cache: nodes and the pods on them, including pods it has only assumed.

Upstream's `internal/cache`. The informers feed it bound pods and nodes; the scheduler adds
the pods it has just placed before the API server knows (`assume_pod`, at Reserve), so the
next cycle already counts them, even though binding runs asynchronously:

    assume_pod -> (bind succeeds) finish_binding -> the informer's add_pod confirms it
               -> (bind fails) forget_pod
    finish_binding starts the expiry clock: an assumed pod whose add never arrives within
    `ttl` seconds is dropped by `cleanup_expired` (0 = never expire).

Every change to a node's NodeInfo rewrites that node's row of the node matrix, so the matrix
is always current; `snapshot()` gives the cycle its view. Pods whose node is not known yet
wait in a NodeInfo without a node and join the matrix when the node arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kube.api.meta import Object
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo, pod_key
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.matrix import NodeMatrix

log = logging.getLogger("kube.scheduler.cache")

DEFAULT_ASSUMED_TTL = 15 * 60.0


def node_name_of(pod: Object) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


@dataclass
class _PodState:
    info: PodInfo
    node: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float | None = None


class Cache:
    def __init__(self, ttl: float = DEFAULT_ASSUMED_TTL) -> None:
        self.ttl = ttl
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, _PodState] = {}
        self.matrix = NodeMatrix()
        self._snapshot: Snapshot | None = None
        self._snapshot_generation = -1

    # -- nodes -----------------------------------------------------------------------------

    def add_node(self, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        info = self.nodes.setdefault(name, NodeInfo())
        info.set_node(node)
        self.matrix.update(info)

    update_node = add_node

    def remove_node(self, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        info = self.nodes.get(name)
        if info is None:
            return
        self.matrix.remove(name)
        if info.pods:
            info.node = None  # pods still bound to it wait for their deletion events
        else:
            del self.nodes[name]

    # -- pods ------------------------------------------------------------------------------

    def _add(self, info: PodInfo, node: str) -> None:
        node_info = self.nodes.setdefault(node, NodeInfo())
        node_info.add_pod(info)
        if node_info.node is not None:
            self.matrix.update(node_info)

    def _remove(self, key: str, node: str) -> None:
        node_info = self.nodes.get(node)
        if node_info is None:
            return
        node_info.remove_pod(key)
        if node_info.node is not None:
            self.matrix.update(node_info)
        elif not node_info.pods:
            del self.nodes[node]

    def is_assumed(self, pod: Object) -> bool:
        state = self.pods.get(pod_key(pod))
        return state is not None and state.assumed

    def assume_pod(self, pod: Object) -> None:
        """Count `pod` (with spec.nodeName set) on its node before the API server binds it."""
        key = pod_key(pod)
        if key in self.pods:
            raise ValueError(f"pod {key} is already in the cache, cannot be assumed")
        info = PodInfo.of(pod)
        node = node_name_of(pod)
        self._add(info, node)
        self.pods[key] = _PodState(info, node, assumed=True)

    def finish_binding(self, pod: Object, now: float) -> None:
        state = self.pods.get(pod_key(pod))
        if state is not None and state.assumed:
            state.binding_finished = True
            state.deadline = now + self.ttl if self.ttl > 0 else None

    def forget_pod(self, pod: Object) -> None:
        key = pod_key(pod)
        state = self.pods.get(key)
        if state is not None and state.assumed:
            self._remove(key, state.node)
            del self.pods[key]

    def add_pod(self, pod: Object) -> None:
        """A bound pod the informer saw: confirms an assumed one, or adds it."""
        key = pod_key(pod)
        state = self.pods.get(key)
        node = node_name_of(pod)
        if state is not None:
            if state.assumed and state.node != node:
                log.warning("pod %s was assumed on %s but bound to %s", key, state.node, node)
            self._remove(key, state.node)
        info = PodInfo.of(pod)
        self._add(info, node)
        self.pods[key] = _PodState(info, node)

    def update_pod(self, pod: Object) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: Object) -> None:
        key = pod_key(pod)
        state = self.pods.pop(key, None)
        if state is not None:
            self._remove(key, state.node)

    def cleanup_expired(self, now: float) -> list[str]:
        """Drop assumed pods whose binding finished more than `ttl` ago unconfirmed."""
        expired = [
            key
            for key, s in self.pods.items()
            if s.assumed and s.binding_finished and s.deadline is not None and s.deadline <= now
        ]
        for key in expired:
            state = self.pods.pop(key)
            log.warning("assumed pod %s expired", key)
            self._remove(key, state.node)
        return expired

    def pod_count(self) -> int:
        return len(self.pods)

    # -- snapshot --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The nodes as this cycle sees them (rebuilt only when the matrix changed)."""
        if self._snapshot is None or self._snapshot_generation != self.matrix.generation:
            infos = [self.nodes[name] for name in self.matrix.names]
            self._snapshot = Snapshot(self.matrix, infos)
            self._snapshot_generation = self.matrix.generation
        return self._snapshot
