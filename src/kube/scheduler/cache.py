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

The snapshot is one object kept current incrementally, never rebuilt per pod (at 5,000 nodes a
rebuild cost more than the whole Filter and Score work): its `node_infos` list follows the
matrix rows, and the nodes with pods that have (required anti-)affinity and the number of
nodes holding each image are counted as pods and nodes come and go (upstream's snapshot lists
and imageStates), so InterPodAffinity and ImageLocality need not scan every node per pod.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from kube.api.meta import Object
from kube.scheduler.framework.nodeinfo import (
    NodeInfo,
    PodInfo,
    has_affinity,
    has_required_anti_affinity,
    pod_key,
)
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.matrix import NodeMatrix
from kube.scheduler.plugins.imagelocality import node_images
from kube.scheduler.podcounts import counted_as

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
    affinity: bool = False
    required_anti_affinity: bool = False


def _footprint(pod: Object) -> tuple[object, ...]:
    """What a pod's requests and host ports are computed from (resources.pod_requests,
    nodeinfo.host_ports): equal footprints, equal PodInfo sums."""
    spec = pod.get("spec") or {}
    return (
        spec.get("containers"),
        spec.get("initContainers"),
        spec.get("overhead"),
        spec.get("resources"),
    )


class Cache:
    def __init__(self, ttl: float = DEFAULT_ASSUMED_TTL) -> None:
        self.ttl = ttl
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, _PodState] = {}
        self.matrix = NodeMatrix()
        # Per node name: how many of its pods have (anti-)affinity / required anti-affinity.
        self._affinity: Counter[str] = Counter()
        self._anti: Counter[str] = Counter()
        self._images: dict[str, set[str]] = {}  # node -> its normalised image names
        self._snapshot = Snapshot(
            self.matrix,
            [],
            {},
            with_affinity={},
            with_required_anti_affinity={},
            image_num_nodes=Counter(),
        )

    # -- nodes -----------------------------------------------------------------------------

    def add_node(self, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        info = self.nodes.setdefault(name, NodeInfo())
        known = info.node is not None
        info.set_node(node)
        self.matrix.update(info)
        snap = self._snapshot
        if not known:
            snap.node_infos.append(info)  # the matrix appended its row too
            snap.by_name[name] = info
            self._listed(name)
        self._set_images(name, set(node_images(info)))

    update_node = add_node

    def remove_node(self, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        info = self.nodes.get(name)
        if info is None or info.node is None:
            return
        self.matrix.remove(name)
        snap = self._snapshot
        # The matrix moved its last row into the removed one: the list follows it.
        snap.node_infos[:] = [self.nodes[n] for n in self.matrix.names]
        snap.by_name.pop(name, None)
        self._set_images(name, set())
        if info.pods:
            info.node = None  # pods still bound to it wait for their deletion events
        else:
            del self.nodes[name]
        self._listed(name)

    def _set_images(self, name: str, images: set[str]) -> None:
        counts = self._snapshot.image_num_nodes
        assert counts is not None
        old = self._images.pop(name, set())
        for image in old - images:
            counts[image] -= 1
            if counts[image] <= 0:
                del counts[image]
        for image in images - old:
            counts[image] += 1
        if images:
            self._images[name] = images

    def _listed(self, name: str) -> None:
        """Puts node `name` in (or out of) the snapshot's lists of nodes with affinity pods."""
        snap = self._snapshot
        info = self.nodes.get(name)
        known = info is not None and info.node is not None
        for counts, listed in (
            (self._affinity, snap.with_affinity),
            (self._anti, snap.with_required_anti_affinity),
        ):
            assert listed is not None
            if known and counts[name] > 0:
                assert info is not None
                listed[name] = info
            else:
                listed.pop(name, None)
            if counts[name] <= 0:
                del counts[name]

    # -- pods ------------------------------------------------------------------------------

    def _add(self, state: _PodState) -> None:
        node = state.node
        node_info = self.nodes.setdefault(node, NodeInfo())
        node_info.add_pod(state.info)
        if node_info.node is not None:
            self.matrix.update(node_info)
        pod = state.info.pod
        state.affinity = has_affinity(pod)
        state.required_anti_affinity = has_required_anti_affinity(pod)
        if state.affinity or state.required_anti_affinity:
            self._affinity[node] += state.affinity
            self._anti[node] += state.required_anti_affinity
            self._listed(node)

    def _remove(self, key: str, state: _PodState) -> None:
        node = state.node
        node_info = self.nodes.get(node)
        if node_info is None:
            return
        node_info.remove_pod(key)
        if state.affinity or state.required_anti_affinity:
            self._affinity[node] -= state.affinity
            self._anti[node] -= state.required_anti_affinity
            self._listed(node)
        if node_info.node is not None:
            self.matrix.update(node_info)
        elif not node_info.pods:
            del self.nodes[node]

    def is_assumed(self, pod: Object) -> bool:
        state = self.pods.get(pod_key(pod))
        return state is not None and state.assumed

    def assume_pod(self, pod: Object, parsed: PodInfo | None = None) -> None:
        """Count `pod` (with spec.nodeName set) on its node before the API server binds it.

        `parsed`: the PodInfo of the same pod before nodeName was set (the cycle's), reused
        instead of parsing the requests again."""
        key = pod_key(pod)
        if key in self.pods:
            raise ValueError(f"pod {key} is already in the cache, cannot be assumed")
        info = (
            PodInfo(pod, parsed.requests, parsed.non_zero, parsed.ports)
            if parsed is not None
            else PodInfo.of(pod)
        )
        state = _PodState(info, node_name_of(pod), assumed=True)
        self._add(state)
        self.pods[key] = state

    def finish_binding(self, pod: Object, now: float) -> None:
        state = self.pods.get(pod_key(pod))
        if state is not None and state.assumed:
            state.binding_finished = True
            state.deadline = now + self.ttl if self.ttl > 0 else None

    def forget_pod(self, pod: Object) -> None:
        key = pod_key(pod)
        state = self.pods.get(key)
        if state is not None and state.assumed:
            self._remove(key, state)
            del self.pods[key]

    def add_pod(self, pod: Object) -> None:
        """A bound pod the informer saw: confirms an assumed one, or adds it."""
        key = pod_key(pod)
        state = self.pods.get(key)
        node = node_name_of(pod)
        if state is not None:
            if state.assumed and state.node != node:
                log.warning("pod %s was assumed on %s but bound to %s", key, state.node, node)
            if state.node == node and self._replace(key, state, pod):
                return
            self._remove(key, state)
        state = _PodState(PodInfo.of(pod), node)
        self._add(state)
        self.pods[key] = state

    def _replace(self, key: str, state: _PodState, pod: Object) -> bool:
        """Swap in the new object of a pod whose requests, ports and (anti-)affinity did not
        change (the informer confirming an assumed pod, a status update): nothing the node's
        sums or the matrix hold changes, so nothing is parsed or rewritten. False otherwise."""
        if (
            _footprint(state.info.pod) != _footprint(pod)
            or state.affinity != has_affinity(pod)
            or state.required_anti_affinity != has_required_anti_affinity(pod)
        ):
            return False
        node_info = self.nodes.get(state.node)
        if node_info is None or key not in node_info.pods:
            return False
        old = state.info
        state.info = PodInfo(pod, old.requests, old.non_zero, old.ports)
        node_info.pods[key] = state.info
        if counted_as(old.pod) != counted_as(pod):
            row = self.matrix.index.get(state.node)  # its labels or termination changed
            if row is not None:
                self.matrix.recount_pods(row, node_info)
        state.assumed = False
        state.binding_finished = False
        state.deadline = None
        return True

    def update_pod(self, pod: Object) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: Object) -> None:
        key = pod_key(pod)
        state = self.pods.pop(key, None)
        if state is not None:
            self._remove(key, state)

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
            self._remove(key, state)
        return expired

    def pod_count(self) -> int:
        return len(self.pods)

    # -- snapshot --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The nodes as this cycle sees them: the one snapshot, kept current as things change."""
        return self._snapshot
