"""NodeInfo: one node and what is on it, as the scheduler's cache aggregates it.

Upstream's `framework.NodeInfo`. Besides the Node object it keeps the pods on the node
(bound, assumed or nominated-and-running), their summed requests (plain and with the non-zero
defaults used for scoring), the host ports they hold, and the pods with (anti-)affinity that
the InterPodAffinity plugin scans. `generation` changes with every mutation, so snapshot users
can tell what changed. A NodeInfo without a node object (`node is None`) holds pods whose
node the cache has not seen yet.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kube.api.meta import Object
from kube.scheduler.framework.resources import (
    Resources,
    node_allocatable,
    non_zero_requests,
    pod_requests,
)

_generation = itertools.count(1)

HostPort = tuple[str, str, int]  # (protocol, ip, port); ip "0.0.0.0" means every address


def pod_key(pod: Object) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def host_ports(pod: Object) -> list[HostPort]:
    """The host ports a pod's containers ask for (protocol TCP and ip 0.0.0.0 by default)."""
    ports: list[HostPort] = []
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            number = int(port.get("hostPort") or 0)
            if number <= 0:
                continue
            ports.append((port.get("protocol") or "TCP", port.get("hostIP") or "0.0.0.0", number))
    return ports


def has_affinity(pod: Object) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    return bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity"))


def has_required_anti_affinity(pod: Object) -> bool:
    anti = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    return bool(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))


def priority(pod: Object) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return int(value) if isinstance(value, int) else 0


@dataclass
class PodInfo:
    """A pod with what the scheduler derives from it once (requests, ports)."""

    pod: Object
    requests: Resources
    non_zero: Resources
    ports: list[HostPort]

    @classmethod
    def of(cls, pod: Object) -> PodInfo:
        if _cycle_pods and _cycle_pods[-1].pod is pod:
            return _cycle_pods[-1]
        requests = pod_requests(pod)
        return cls(pod, requests, non_zero_requests(requests), host_ports(pod))

    @property
    def key(self) -> str:
        return pod_key(self.pod)


# The pod of the running scheduling cycle, parsed once: plugins ask PodInfo.of(pod) for it at
# every extension point, and parsing its quantities again each time cost more than a Filter.
_cycle_pods: list[PodInfo] = []


@contextmanager
def cycle_pod(pod: Object) -> Iterator[PodInfo]:
    """Within the block, PodInfo.of(`pod`) (that very object) returns one parsed PodInfo."""
    info = PodInfo.of(pod)
    _cycle_pods.append(info)
    try:
        yield info
    finally:
        _cycle_pods.pop()


@dataclass
class NodeInfo:
    node: Object | None = None
    pods: dict[str, PodInfo] = field(default_factory=dict)
    requested: Resources = field(default_factory=dict)
    non_zero_requested: Resources = field(default_factory=dict)
    used_ports: dict[HostPort, int] = field(default_factory=dict)
    allocatable: Resources = field(default_factory=dict)
    generation: int = field(default_factory=lambda: next(_generation))

    @property
    def name(self) -> str:
        return str(((self.node or {}).get("metadata") or {}).get("name") or "")

    @property
    def labels(self) -> dict[str, str]:
        return dict(((self.node or {}).get("metadata") or {}).get("labels") or {})

    def set_node(self, node: Object) -> None:
        self.node = node
        self.allocatable = node_allocatable(node)
        self.generation = next(_generation)

    def add_pod(self, info: PodInfo) -> None:
        self.pods[info.key] = info
        for name, value in info.requests.items():
            self.requested[name] = self.requested.get(name, 0) + value
        for name, value in info.non_zero.items():
            self.non_zero_requested[name] = self.non_zero_requested.get(name, 0) + value
        for port in info.ports:
            self.used_ports[port] = self.used_ports.get(port, 0) + 1
        self.generation = next(_generation)

    def remove_pod(self, key: str) -> PodInfo | None:
        info = self.pods.pop(key, None)
        if info is None:
            return None
        for name, value in info.requests.items():
            self.requested[name] = self.requested.get(name, 0) - value
        for name, value in info.non_zero.items():
            self.non_zero_requested[name] = self.non_zero_requested.get(name, 0) - value
        for port in info.ports:
            left = self.used_ports.get(port, 0) - 1
            if left > 0:
                self.used_ports[port] = left
            else:
                self.used_ports.pop(port, None)
        self.generation = next(_generation)
        return info

    def clone(self) -> NodeInfo:
        """A copy whose pod set can change without touching this one (preemption dry runs)."""
        return NodeInfo(
            node=self.node,
            pods=dict(self.pods),
            requested=dict(self.requested),
            non_zero_requested=dict(self.non_zero_requested),
            used_ports=dict(self.used_ports),
            allocatable=dict(self.allocatable),
            generation=self.generation,
        )

    def pods_with_affinity(self) -> list[PodInfo]:
        return [p for p in self.pods.values() if has_affinity(p.pod)]

    def pods_with_required_anti_affinity(self) -> list[PodInfo]:
        return [p for p in self.pods.values() if has_required_anti_affinity(p.pod)]


def deep(obj: Object) -> Any:
    return copy.deepcopy(obj)
