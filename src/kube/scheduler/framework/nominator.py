"""The nominator: which pending pods preemption (or a previous scheduler) nominated to which node.

Upstream's `PodNominator` (part of the scheduling queue there). A pod nominated to a node is
waiting for its victims to go; until it is bound, the room it will take on that node must not
be given away. So when filtering a node for another pod, the pods nominated to that node with
the same or a higher priority are added to a copy of the node first
(`Framework.run_filter_plugins_with_nominated_pods`, upstream's
RunFilterPluginsWithNominatedPods), and the node must fit with them as well as without them.

Nominations come from two places: the scheduler's own PostFilter (preemption) result, and
`status.nominatedNodeName` on pending pods from the informer (after a restart, or written by
another profile). A pod leaves the nominator when it is bound, deleted or nominated elsewhere,
or when its status clears the field.
"""

from __future__ import annotations

from kube.api.meta import Object
from kube.scheduler.framework.nodeinfo import PodInfo, pod_key, priority


def nominated_node_of(pod: Object) -> str:
    return str((pod.get("status") or {}).get("nominatedNodeName") or "")


class Nominator:
    def __init__(self) -> None:
        self._node_of: dict[str, str] = {}
        self._pods: dict[str, dict[str, PodInfo]] = {}  # node -> pod key -> pod

    def add(self, pod: Object, node: str | None = None) -> None:
        """Nominate `pod` to `node` (default: its status.nominatedNodeName); "" forgets it."""
        key = pod_key(pod)
        node = nominated_node_of(pod) if node is None else node
        self.delete(key)
        if not node:
            return
        self._node_of[key] = node
        self._pods.setdefault(node, {})[key] = PodInfo.of(pod)

    def update(self, pod: Object) -> None:
        """A pending pod changed: keep a scheduler nomination unless the status names another."""
        key = pod_key(pod)
        node = nominated_node_of(pod) or self._node_of.get(key, "")
        self.add(pod, node)

    def delete(self, key: str) -> None:
        node = self._node_of.pop(key, None)
        if node is None:
            return
        pods = self._pods.get(node)
        if pods is not None:
            pods.pop(key, None)
            if not pods:
                del self._pods[node]

    def node_of(self, key: str) -> str | None:
        return self._node_of.get(key)

    def nodes(self) -> list[str]:
        """The nodes that have pods nominated to them."""
        return list(self._pods)

    def pods_for_node(self, node: str) -> list[PodInfo]:
        return list((self._pods.get(node) or {}).values())

    def ge_priority_pods_for_node(self, node: str, pod: Object) -> list[PodInfo]:
        """What upstream's addGENominatedPods adds: other pods of the same or higher priority."""
        pods = self._pods.get(node)
        if not pods:
            return []
        own, key = priority(pod), pod_key(pod)
        return [p for k, p in pods.items() if k != key and priority(p.pod) >= own]

    def __bool__(self) -> bool:
        return bool(self._node_of)

    def __len__(self) -> int:
        return len(self._node_of)
