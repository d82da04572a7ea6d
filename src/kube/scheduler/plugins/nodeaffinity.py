"""NodeAffinity: `spec.nodeSelector` and node affinity (required filters, preferred scores).

Filter: the node must match the pod's nodeSelector and its
`requiredDuringSchedulingIgnoredDuringExecution` node selector (terms ORed, requirements
ANDed; kube.api.nodeaffinity), and the profile's `addedAffinity` if configured; otherwise
UnschedulableAndUnresolvable "node(s) didn't match Pod's node affinity/selector". Score: the
sum of the weights of the `preferredDuringSchedulingIgnoredDuringExecution` terms the node
matches, normalised so the best node gets 100.

The vectorised versions compile each requirement into a mask over the matrix's label column
of its key (interned value ids), so a selector costs a few numpy passes over all nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.api.nodeaffinity import node_selector_matches, requirement_matches, term_matches
from kube.scheduler import kernels
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import NODE, ActionType, ClusterEvent, ClusterEventWithHint
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, unresolvable
from kube.scheduler.matrix import NodeMatrix
from kube.scheduler.plugins.helpers import (
    MAX_NODE_SCORE,
    default_normalize_score,
    default_normalize_scores,
)

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"

_label_requirement = kernels.get("label_requirement")

Bool = npt.NDArray[np.bool_]


def _affinity(pod: Object) -> Mapping[str, Any]:
    return ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}


def _required(pod: Object) -> Mapping[str, Any] | None:
    required = _affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    return required if isinstance(required, Mapping) else None


def _preferred(pod: Object) -> list[Mapping[str, Any]]:
    terms = _affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return [t for t in terms if isinstance(t, Mapping)]


# -- the vectorised matching ------------------------------------------------------------------


def requirement_mask(m: NodeMatrix, req: Mapping[str, Any]) -> Bool:
    key = str(req.get("key") or "")
    op = str(req.get("operator") or "")
    values = [str(v) for v in req.get("values") or []]
    col = m.label_keys.get(key)
    column = m.labels[: m.n, col] if col >= 0 else np.full(m.n, -1, np.int32)
    ids = np.array([i for v in values if (i := m.label_value_id(key, v)) >= 0], np.int32)
    lookup = np.zeros(1, np.bool_)
    if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
        interned = m.label_values[col].values if col >= 0 else []
        lookup = np.array(
            [requirement_matches(req, {key: v}) for v in interned] + [requirement_matches(req, {})],
            np.bool_,
        )
    result: Bool = _label_requirement(column, op, ids, lookup)
    return result


def _field_mask(m: NodeMatrix, req: Mapping[str, Any]) -> Bool:
    if req.get("key") != "metadata.name":
        return np.zeros(m.n, np.bool_)
    op = req.get("operator")
    values = {str(v) for v in req.get("values") or []}
    if op in ("In", "NotIn"):
        mask = np.zeros(m.n, np.bool_)
        for value in values:
            row = m.index.get(value)
            if row is not None:
                mask[row] = True
        return mask if op == "In" else ~mask
    return np.array(
        [requirement_matches(req, {"metadata.name": name}) for name in m.names], np.bool_
    )


def term_mask(m: NodeMatrix, term: Mapping[str, Any]) -> Bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    mask = np.ones(m.n, np.bool_)
    if not expressions and not fields:
        return ~mask
    for req in expressions:
        mask &= requirement_mask(m, req)
    for req in fields:
        mask &= _field_mask(m, req)
    return mask


def selector_mask(m: NodeMatrix, selector: Mapping[str, Any] | None) -> Bool:
    if selector is None:
        return np.ones(m.n, np.bool_)
    mask = np.zeros(m.n, np.bool_)
    for term in selector.get("nodeSelectorTerms") or []:
        mask |= term_mask(m, term)
    return mask


def node_selector_mask(m: NodeMatrix, labels: Mapping[str, Any]) -> Bool:
    mask = np.ones(m.n, np.bool_)
    for key, value in labels.items():
        mask &= requirement_mask(m, {"key": key, "operator": "In", "values": [value]})
    return mask


class NodeAffinity(Plugin):
    NAME = NAME

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        added = (self.args.get("addedAffinity") or {}) if self.args else {}
        required = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        self.added_required: Mapping[str, Any] | None = required
        self.added_preferred: list[Mapping[str, Any]] = list(
            added.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        )

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        node = node_info.node or {}
        labels = node_info.labels
        selector = (pod.get("spec") or {}).get("nodeSelector") or {}
        ok = all(labels.get(str(k)) == str(v) for k, v in selector.items())
        ok = ok and node_selector_matches(_required(pod), node)
        ok = ok and node_selector_matches(self.added_required, node)
        return Status() if ok else unresolvable(ERR_REASON_POD)

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        m = snapshot.matrix
        mask = node_selector_mask(m, (pod.get("spec") or {}).get("nodeSelector") or {})
        mask &= selector_mask(m, _required(pod))
        if self.added_required is not None:
            mask &= selector_mask(m, self.added_required)
        return NodeMask((~mask).astype(np.int64), lambda code: unresolvable(ERR_REASON_POD))

    def _terms(self, pod: Object) -> list[Mapping[str, Any]]:
        return [*self.added_preferred, *_preferred(pod)]

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        node = node_info.node or {}
        total = sum(
            int(t.get("weight") or 0)
            for t in self._terms(pod)
            if term_matches(t.get("preference") or {}, node)
        )
        return total, Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        m = snapshot.matrix
        total = np.zeros(m.n, np.int64)
        for term in self._terms(pod):
            weight = int(term.get("weight") or 0)
            if weight:
                total += term_mask(m, term.get("preference") or {}) * weight
        return total[rows]

    def normalize_scores(self, state: CycleState, pod: Object, scores: list[int]) -> Status:
        default_normalize_score(MAX_NODE_SCORE, False, scores)
        return Status()

    def normalize_score_nodes(
        self, state: CycleState, pod: Object, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        return default_normalize_scores(MAX_NODE_SCORE, False, scores)

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL))
        ]
