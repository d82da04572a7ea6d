"""InterPodAffinity: required and preferred pod affinity and anti-affinity.

A term selects pods (`labelSelector`, plus `matchLabelKeys`/`mismatchLabelKeys` values of
the incoming pod) in namespaces (`namespaces`, `namespaceSelector`; neither: the pod's own)
and names a `topologyKey`; a node is "near" a pod when the node's value of that key equals the
value on the pod's node.

Filter (the counts are computed once in PreFilter over all nodes), in upstream's order:
- every required affinity term of the pod must have a matching pod near the node, else
  UnschedulableAndUnresolvable "node(s) didn't match pod affinity rules"; except that when no
  pod anywhere matches and the pod matches its own terms, the first pod of a group may go
  anywhere with the topology key;
- no required anti-affinity term of the pod may have a matching pod near the node, else
  Unschedulable "node(s) didn't match pod anti-affinity rules";
- no existing pod near the node may have a required anti-affinity term matching the pod,
  else Unschedulable "node(s) didn't satisfy existing pods anti-affinity rules".

Score: per topology domain, + weight for each existing pod matching one of the pod's
preferred affinity terms, - weight for its preferred anti-affinity terms, and the same for
existing pods' preferred terms matching this pod (their required affinity terms count with
`hardPodAffinityWeight`); normalised min..max to 0..100.

With the scheduler's snapshot, PreFilter and PreScore do not walk the cluster's pods: the
pods matching the incoming pod's own terms come from the node matrix's kept per-selector pod
counts (kube.scheduler.podcounts), and the existing pods' terms from its kept per-term sums
(kube.scheduler.termcounts), each summed per topology domain with one `bincount`.
`pre_filter_reference` and a pre_score without a snapshot walk every pod, as upstream does;
the kernel tests check that both give the same counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import (
    ASSIGNED_POD,
    NODE,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
)
from kube.scheduler.framework.interfaces import NodeMask, Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Status, skip, unresolvable, unschedulable
from kube.scheduler.matrix import NodeMatrix
from kube.scheduler.plugins.helpers import MAX_NODE_SCORE, state_key
from kube.scheduler.podterms import Term, terms

NAME = "InterPodAffinity"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

Pair = tuple[str, str]  # (topology key, value)

# filter_nodes reason codes, in the order the per-node Filter checks them.
CODE_AFFINITY = 1
CODE_ANTI_AFFINITY = 2
CODE_EXISTING_ANTI_AFFINITY = 3
_REASONS = {
    CODE_AFFINITY: (unresolvable, ERR_REASON_AFFINITY),
    CODE_ANTI_AFFINITY: (unschedulable, ERR_REASON_ANTI_AFFINITY),
    CODE_EXISTING_ANTI_AFFINITY: (unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY),
}


class DomainCounts:
    """A count (or weight sum) per topology domain (key, value).

    With a matrix, each key's counts are one array over the matrix's interned value ids, so
    PreFilter and PreScore add whole columns per domain with `bincount`, and Filter and Score
    read them back per row by the rows' domain ids. The per-node reference and preemption's
    add/remove of one pod add one pair at a time; a pair whose value no node has (every pair,
    without a matrix) is kept in `loose`.
    """

    __slots__ = ("arrays", "loose", "matrix")

    def __init__(self, matrix: NodeMatrix | None = None) -> None:
        self.matrix = matrix
        self.arrays: dict[str, npt.NDArray[np.int64]] = {}
        self.loose: Counter[Pair] = Counter()

    def clone(self) -> DomainCounts:
        copy = DomainCounts(self.matrix)
        copy.arrays = {key: array.copy() for key, array in self.arrays.items()}
        copy.loose = Counter(self.loose)
        return copy

    def _array(self, key: str, size: int) -> npt.NDArray[np.int64]:
        array = self.arrays.get(key)
        if array is None or len(array) < size:
            grown = np.zeros(size, np.int64)
            if array is not None:
                grown[: len(array)] = array
            self.arrays[key] = array = grown
        return array

    def add(self, key: str, value: str, d: int) -> None:
        vid = self.matrix.label_value_id(key, value) if self.matrix is not None else -1
        if vid < 0:
            self.loose[(key, value)] += d
        else:
            self._array(key, vid + 1)[vid] += d

    def add_rows(self, key: str, per_row: npt.NDArray[Any], weight: int = 1) -> None:
        """Add `weight` times each live row's `per_row` to the row's domain of `key`."""
        m = self.matrix
        assert m is not None, "per-row counts need the matrix they come from"
        rows = np.flatnonzero(per_row[: m.n])
        if not len(rows):
            return
        ids = m.domain_ids(key)[rows]
        present = ids >= 0
        if not present.any():
            return
        sums = np.bincount(ids[present], weights=per_row[rows][present])
        self._array(key, len(sums))[: len(sums)] += np.rint(sums).astype(np.int64) * weight

    def get(self, key: str, value: str) -> int:
        total = self.loose.get((key, value), 0)
        array = self.arrays.get(key)
        if array is not None and self.matrix is not None:
            vid = self.matrix.label_value_id(key, value)
            if 0 <= vid < len(array):
                total += int(array[vid])
        return total

    def topology_keys(self) -> set[str]:
        return {*self.arrays, *(key for key, _ in self.loose)}

    def positive(self) -> bool:
        """Whether any domain counts more than zero."""
        return any(v > 0 for v in self.loose.values()) or any(
            bool((a > 0).any()) for a in self.arrays.values()
        )

    def pairs(self) -> Counter[Pair]:
        """Every domain with a non-zero count, as (key, value) pairs (for tests and logs)."""
        out: Counter[Pair] = Counter({pair: v for pair, v in self.loose.items() if v})
        m = self.matrix
        for key, array in self.arrays.items():
            assert m is not None
            values = m.label_values[m.label_keys.ids[key]].values
            for vid in np.flatnonzero(array).tolist():
                out[(key, values[vid])] += int(array[vid])
        return out

    def at(
        self, m: NodeMatrix, rows: npt.NDArray[np.int64] | None = None
    ) -> dict[str, npt.NDArray[np.int64]]:
        """Per key, each row's count for the row's domain (0 where the row lacks the key)."""
        assert self.matrix is None or self.matrix is m, "value ids are the matrix's own"
        out = {}
        for key in self.topology_keys():
            col = m.label_keys.get(key)
            if col < 0:
                continue
            size = len(m.label_values[col])
            lookup = np.zeros(size + 1, np.int64)  # slot -1: rows without the key
            array = self.arrays.get(key)
            if array is not None:
                lookup[: min(size, len(array))] += array[:size]
            for (k, value), v in self.loose.items():
                vid = m.label_value_id(k, value) if k == key else -1
                if vid >= 0:
                    lookup[vid] += v
            ids = m.domain_ids(key)
            out[key] = lookup[ids if rows is None else ids[rows]]
        return out


@dataclass
class _FilterState:
    affinity: list[Term]
    anti: list[Term]
    affinity_counts: DomainCounts
    anti_counts: DomainCounts
    existing_anti_counts: DomainCounts

    def clone(self) -> _FilterState:
        return _FilterState(
            self.affinity,
            self.anti,
            self.affinity_counts.clone(),
            self.anti_counts.clone(),
            self.existing_anti_counts.clone(),
        )


class InterPodAffinity(Plugin):
    NAME = NAME

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.hard_weight = int(self.args.get("hardPodAffinityWeight", 1))
        self.ignore_existing_preferred = bool(self.args.get("ignorePreferredTermsOfExistingPods"))

    def _ns_labels(self, ns: str) -> dict[str, str] | None:
        if self.handle is None:
            return None
        result: dict[str, str] | None = self.handle.namespace_labels(ns)
        return result

    def _count(
        self, data: _FilterState, pod: Object, other: Object, info: NodeInfo, d: int
    ) -> None:
        labels = info.labels
        for term in data.affinity:
            if term.topology_key in labels and term.matches(other, self._ns_labels):
                data.affinity_counts.add(term.topology_key, labels[term.topology_key], d)
        for term in data.anti:
            if term.topology_key in labels and term.matches(other, self._ns_labels):
                data.anti_counts.add(term.topology_key, labels[term.topology_key], d)
        for term in terms(other, "podAntiAffinity", "required"):
            if term.topology_key in labels and term.matches(pod, self._ns_labels):
                data.existing_anti_counts.add(term.topology_key, labels[term.topology_key], d)

    def _count_matching(
        self, counts: DomainCounts, own: list[Term], snapshot: Snapshot, preferred: int = 0
    ) -> None:
        """Add, per domain, the pods matching each of the incoming pod's terms `own` (weighted
        `preferred` * the term's weight for preferred terms).

        A term with listed namespaces reads the matrix's kept pod counts (terminating pods
        count here, unlike for PodTopologySpread); one with a namespace selector walks the
        pods."""
        m = snapshot.matrix
        for term in own:
            if term.requirements is None:
                continue  # matches no pod
            weight = preferred * term.weight if preferred else 1
            if term.namespace_selector is None and term.namespaces is not None:
                per_row: npt.NDArray[np.int64] = np.zeros(m.n, np.int64)
                for ns in sorted(term.namespaces):
                    key = (ns, term.selector_key, True)
                    column = m.pod_counts.column(
                        key, term.requirements, snapshot.node_infos, len(m.pod_count)
                    )
                    per_row += column[: m.n]
                counts.add_rows(term.topology_key, per_row, weight)
                continue
            for info in snapshot.node_infos:
                value = info.labels.get(term.topology_key)
                if value is None:
                    continue
                for held in info.pods.values():
                    if term.matches(held.pod, self._ns_labels):
                        counts.add(term.topology_key, value, weight)

    def pre_filter(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        m = snapshot.matrix
        affinity = terms(pod, "podAffinity", "required")
        anti = terms(pod, "podAntiAffinity", "required")
        existing = [
            group
            for group in m.term_counts.of_kind("anti")
            if group.term.matches(pod, self._ns_labels)
        ]
        if not affinity and not anti and not existing:
            return skip()  # most pods: nothing to count
        data = _FilterState(affinity, anti, DomainCounts(m), DomainCounts(m), DomainCounts(m))
        for group in existing:
            data.existing_anti_counts.add_rows(group.term.topology_key, group.sums)
        self._count_matching(data.affinity_counts, data.affinity, snapshot)
        self._count_matching(data.anti_counts, data.anti, snapshot)
        if not data.affinity and not data.anti and not data.existing_anti_counts.positive():
            return skip()
        state.write(state_key("PreFilter", NAME), data)
        return Status()

    def pre_filter_reference(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        """`pre_filter` pod by pod, as upstream (what the matrix counts are tested against)."""
        data = _FilterState(
            terms(pod, "podAffinity", "required"),
            terms(pod, "podAntiAffinity", "required"),
            DomainCounts(),
            DomainCounts(),
            DomainCounts(),
        )
        for info in snapshot.node_infos:
            for other in info.pods.values():
                self._count(data, pod, other.pod, info, 1)
        if not data.affinity and not data.anti and not data.existing_anti_counts.positive():
            return skip()
        state.write(state_key("PreFilter", NAME), data)
        return Status()

    def add_pod(self, state: CycleState, pod: Object, to_add: Object, info: NodeInfo) -> Status:
        data = state.get(state_key("PreFilter", NAME))
        if data is not None:
            self._count(data, pod, to_add, info, 1)
        return Status()

    def remove_pod(
        self, state: CycleState, pod: Object, to_remove: Object, info: NodeInfo
    ) -> Status:
        data = state.get(state_key("PreFilter", NAME))
        if data is not None:
            self._count(data, pod, to_remove, info, -1)
        return Status()

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        data: _FilterState | None = state.get(state_key("PreFilter", NAME))
        if data is None:
            return Status()
        labels = node_info.labels
        if data.affinity:
            if not all(t.topology_key in labels for t in data.affinity):
                return unresolvable(ERR_REASON_AFFINITY)
            satisfied = all(
                data.affinity_counts.get(t.topology_key, labels[t.topology_key]) > 0
                for t in data.affinity
            )
            # The first pod of a group with affinity to itself may go anywhere.
            if not satisfied and not (
                not data.affinity_counts.positive()
                and all(t.matches(pod, self._ns_labels) for t in data.affinity)
            ):
                return unresolvable(ERR_REASON_AFFINITY)
        for t in data.anti:
            if (
                t.topology_key in labels
                and data.anti_counts.get(t.topology_key, labels[t.topology_key]) > 0
            ):
                return unschedulable(ERR_REASON_ANTI_AFFINITY)
        for key in data.existing_anti_counts.topology_keys():
            if key in labels and data.existing_anti_counts.get(key, labels[key]) > 0:
                return unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return Status()

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        """`filter` over every matrix row: the counted domains read back by domain id."""
        m = snapshot.matrix
        codes = np.zeros(m.n, np.int64)
        data: _FilterState | None = state.get(state_key("PreFilter", NAME))
        if data is not None:
            zero = np.zeros(m.n, np.int64)
            if data.affinity:
                counts = data.affinity_counts.at(m)
                has_keys = np.ones(m.n, np.bool_)
                satisfied = np.ones(m.n, np.bool_)
                for t in data.affinity:
                    has_keys &= m.domain_ids(t.topology_key) >= 0
                    satisfied &= counts.get(t.topology_key, zero) > 0
                # The first pod of a group with affinity to itself may go anywhere.
                first_of_group = not data.affinity_counts.positive() and all(
                    t.matches(pod, self._ns_labels) for t in data.affinity
                )
                failing = ~has_keys if first_of_group else ~(has_keys & satisfied)
                codes[failing] = CODE_AFFINITY
            if data.anti:
                counts = data.anti_counts.at(m)
                blocked = np.zeros(m.n, np.bool_)
                for t in data.anti:
                    blocked |= counts.get(t.topology_key, zero) > 0
                codes[(codes == 0) & blocked] = CODE_ANTI_AFFINITY
            near_existing = data.existing_anti_counts.at(m)
            if near_existing:
                blocked = np.zeros(m.n, np.bool_)
                for near in near_existing.values():
                    blocked |= near > 0
                codes[(codes == 0) & blocked] = CODE_EXISTING_ANTI_AFFINITY

        def status_of(code: int) -> Status:
            make, reason = _REASONS[code]
            return make(reason)

        return NodeMask(codes, status_of)

    # -- score -----------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        snapshot = self.handle.snapshot if self.handle is not None else None
        if snapshot is None:
            return self.pre_score_reference(state, pod, nodes)
        preferred = terms(pod, "podAffinity", "preferred")
        preferred_anti = terms(pod, "podAntiAffinity", "preferred")
        if not preferred and not preferred_anti and not snapshot.have_pods_with_affinity():
            return skip()
        m = snapshot.matrix
        scores = DomainCounts(m)
        self._count_matching(scores, preferred, snapshot, preferred=1)
        self._count_matching(scores, preferred_anti, snapshot, preferred=-1)
        for group in m.term_counts.groups.values():
            if group.kind == "affinity":
                weight = self.hard_weight
            elif group.kind == "anti" or self.ignore_existing_preferred:
                continue
            else:
                weight = 1 if group.kind == "preferred_affinity" else -1
            if weight and group.term.matches(pod, self._ns_labels):
                scores.add_rows(group.term.topology_key, group.sums, weight)
        state.write(state_key("PreScore", NAME), scores)
        return Status()

    def pre_score_reference(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        """PreScore pod by pod over `nodes`, as upstream (what the matrix sums are tested
        against; also what runs without the scheduler's snapshot)."""
        preferred = terms(pod, "podAffinity", "preferred")
        preferred_anti = terms(pod, "podAntiAffinity", "preferred")
        has_constraints = bool(preferred or preferred_anti)
        scores = DomainCounts()
        seen = False
        for info in nodes:
            labels = info.labels
            candidates = info.pods.values() if has_constraints else info.pods_with_affinity()
            for other in candidates:
                seen = True
                for term in preferred:
                    if term.topology_key in labels and term.matches(other.pod, self._ns_labels):
                        scores.add(term.topology_key, labels[term.topology_key], term.weight)
                for term in preferred_anti:
                    if term.topology_key in labels and term.matches(other.pod, self._ns_labels):
                        scores.add(term.topology_key, labels[term.topology_key], -term.weight)
                if self.hard_weight > 0:
                    for term in terms(other.pod, "podAffinity", "required"):
                        if term.topology_key in labels and term.matches(pod, self._ns_labels):
                            scores.add(
                                term.topology_key, labels[term.topology_key], self.hard_weight
                            )
                if not self.ignore_existing_preferred:
                    for term in terms(other.pod, "podAffinity", "preferred"):
                        if term.topology_key in labels and term.matches(pod, self._ns_labels):
                            scores.add(term.topology_key, labels[term.topology_key], term.weight)
                    for term in terms(other.pod, "podAntiAffinity", "preferred"):
                        if term.topology_key in labels and term.matches(pod, self._ns_labels):
                            scores.add(term.topology_key, labels[term.topology_key], -term.weight)
        if not has_constraints and not seen:
            return skip()
        state.write(state_key("PreScore", NAME), scores)
        return Status()

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        scores: DomainCounts = state.read(state_key("PreScore", NAME))
        labels = node_info.labels
        total = sum(scores.get(key, labels[key]) for key in scores.topology_keys() if key in labels)
        return total, Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """`score` for `rows`: each key's domain weights summed, as integer arrays."""
        scores: DomainCounts = state.read(state_key("PreScore", NAME))
        total = np.zeros(len(rows), np.int64)
        for near in scores.at(snapshot.matrix, rows).values():
            total += near
        return total

    def normalize_scores(self, state: CycleState, pod: Object, scores: list[int]) -> Status:
        if not scores:
            return Status()
        low, high = min(scores), max(scores)
        diff = high - low
        for i, s in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * ((s - low) / diff)) if diff > 0 else 0
        return Status()

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(ASSIGNED_POD, ActionType.all())),
            ClusterEventWithHint(ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL)),
        ]
