"""TaintToleration: untolerated NoSchedule/NoExecute taints exclude a node; PreferNoSchedule
taints the pod does not tolerate lower its score.

Filter: the first taint (in the node's order) with effect NoSchedule or NoExecute that no
toleration of the pod tolerates rejects the node, UnschedulableAndUnresolvable, "node(s) had
untolerated taint {key: value}". Score: the number of PreferNoSchedule taints not tolerated by
the pod's tolerations of effect PreferNoSchedule (or any effect), normalised in reverse, so the
node with the fewest gets 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.api.taints import tolerated_by_any
from kube.scheduler import kernels
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import NODE, ActionType, ClusterEvent, ClusterEventWithHint
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unresolvable
from kube.scheduler.plugins.helpers import (
    MAX_NODE_SCORE,
    default_normalize_score,
    default_normalize_scores,
)

NAME = "TaintToleration"
FILTER_EFFECTS = ("NoSchedule", "NoExecute")

_taint_filter = kernels.get("taint_filter")
_count_untolerated = kernels.get("count_untolerated")


def _tolerations(pod: Object) -> list[Mapping[str, Any]]:
    return [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]


def _preferred_tolerations(pod: Object) -> list[Mapping[str, Any]]:
    return [t for t in _tolerations(pod) if (t.get("effect") or "") in ("", "PreferNoSchedule")]


def untolerated_reason(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


def _node_taints(node_info: NodeInfo) -> list[Mapping[str, Any]]:
    taints = ((node_info.node or {}).get("spec") or {}).get("taints") or []
    return [t for t in taints if isinstance(t, dict)]


class TaintToleration(Plugin):
    NAME = NAME

    # -- filter ----------------------------------------------------------------------------

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        tolerations = _tolerations(pod)
        for taint in _node_taints(node_info):
            if taint.get("effect") not in FILTER_EFFECTS:
                continue
            if not tolerated_by_any(taint, tolerations):
                return unresolvable(
                    untolerated_reason(str(taint.get("key") or ""), str(taint.get("value") or ""))
                )
        return Status()

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        m = snapshot.matrix
        tolerations = _tolerations(pod)
        tolerated = np.array(
            [
                effect not in FILTER_EFFECTS
                or tolerated_by_any({"key": k, "value": v, "effect": effect}, tolerations)
                for k, v, effect in m.taints.values
            ],
            dtype=np.bool_,
        )
        if tolerated.all():  # no taint in the cluster keeps this pod off a node
            codes = np.zeros(m.n, np.int64)
        else:
            codes = _taint_filter(m.taint_ids[: m.n], tolerated)

        def status_of(code: int) -> Status:
            key, value, _ = m.taints.values[code - 1]
            return unresolvable(untolerated_reason(key, value))

        return NodeMask(codes, status_of)

    # -- score -----------------------------------------------------------------------------

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        tolerations = _preferred_tolerations(pod)
        count = sum(
            1
            for taint in _node_taints(node_info)
            if taint.get("effect") == "PreferNoSchedule"
            and not tolerated_by_any(taint, tolerations)
        )
        return count, Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        m = snapshot.matrix
        tolerations = _preferred_tolerations(pod)
        counted = np.array(
            [
                effect == "PreferNoSchedule"
                and not tolerated_by_any({"key": k, "value": v, "effect": effect}, tolerations)
                for k, v, effect in m.taints.values
            ],
            dtype=np.bool_,
        )
        if not counted.any():  # no PreferNoSchedule taint in the cluster counts against it
            return np.zeros(len(rows), np.int64)
        result: npt.NDArray[np.int64] = _count_untolerated(m.taint_ids[rows], counted)
        return result

    def normalize_scores(self, state: CycleState, pod: Object, scores: list[int]) -> Status:
        default_normalize_score(MAX_NODE_SCORE, True, scores)
        return Status()

    def normalize_score_nodes(
        self, state: CycleState, pod: Object, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        return default_normalize_scores(MAX_NODE_SCORE, True, scores)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_TAINT))
        ]
