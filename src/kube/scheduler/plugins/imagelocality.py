"""ImageLocality: prefer nodes that already have the pod's images.

Score (upstream): the sum over the pod's containers of the size of each image the node has
(names normalised with `:latest` when untagged), each scaled by the share of nodes that have
it (so an image everywhere does not pull pods anywhere in particular), clamped between 23 MB
and 1000 MB per container and mapped linearly onto 0..100.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status
from kube.scheduler.plugins.helpers import MAX_NODE_SCORE, state_key

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized_image_name(name: str) -> str:
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


def node_images(info: NodeInfo) -> dict[str, int]:
    out: dict[str, int] = {}
    for image in ((info.node or {}).get("status") or {}).get("images") or []:
        for name in image.get("names") or []:
            out[normalized_image_name(str(name))] = int(image.get("sizeBytes") or 0)
    return out


def calculate_priority(total: int, containers: int) -> int:
    maximum = MAX_CONTAINER_THRESHOLD * containers
    total = min(max(total, MIN_THRESHOLD), maximum)
    return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (maximum - MIN_THRESHOLD)


def _images(pod: Object) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        normalized_image_name(str(c.get("image") or ""))
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    ]


class ImageLocality(Plugin):
    NAME = NAME

    def pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        snapshot = self.handle.snapshot if self.handle is not None else None
        everyone = snapshot.node_infos if snapshot is not None else nodes
        wanted = set(_images(pod))
        spread: Counter[str] = Counter()
        counted = snapshot.image_num_nodes if snapshot is not None else None
        if counted is not None:  # kept by the cache: no scan of every node
            spread.update({name: counted[name] for name in wanted if counted[name]})
            everyone = []
        for info in everyone:
            for name in node_images(info):
                if name in wanted:
                    spread[name] += 1
        total = len(snapshot) if counted is not None and snapshot is not None else len(everyone)
        state.write(state_key("PreScore", NAME), (spread, max(total, 1)))
        return Status()

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        spread, total_nodes = state.get(state_key("PreScore", NAME), (Counter(), 1))
        have = node_images(node_info)
        images = _images(pod)
        total = sum(
            int(float(have[name]) * float(spread[name]) / float(total_nodes))
            for name in images
            if name in have
        )
        return calculate_priority(total, len(images)), Status()

    def score_nodes(
        self, state: CycleState, pod: Object, snapshot: Snapshot, rows: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """When no node has any of the pod's images every score is the same; else per node."""
        spread, _ = state.get(state_key("PreScore", NAME), (Counter(), 1))
        if not any(spread.values()):
            return np.full(len(rows), calculate_priority(0, len(_images(pod))), np.int64)
        infos = snapshot.node_infos
        return np.array([self.score(state, pod, infos[r])[0] for r in rows.tolist()], np.int64)
