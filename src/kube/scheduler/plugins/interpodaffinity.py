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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.api.selectors import SelectorError, from_label_selector
from kube.native import match_labels
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
from kube.scheduler.plugins.helpers import (
    MAX_NODE_SCORE,
    pod_labels,
    pod_namespace,
    selector_matches,
    state_key,
)

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


def _pair_values(
    m: NodeMatrix, pairs: Counter[Pair], rows: npt.NDArray[np.int64] | None = None
) -> dict[str, npt.NDArray[np.int64]]:
    """Per topology key, each row's value of `pairs` for the row's domain (0 if none).

    The (key, value) counters of PreFilter/PreScore become, key by key, a lookup array over
    the matrix's interned value ids indexed by the rows' domain id column (slot -1 is 0, for
    rows without the key).
    """
    by_key: dict[str, list[tuple[int, int]]] = {}
    for (key, value), count in pairs.items():
        vid = m.label_value_id(key, value)
        if vid >= 0 and count:
            by_key.setdefault(key, []).append((vid, count))
    out = {}
    for key, entries in by_key.items():
        lookup = np.zeros(len(m.label_values[m.label_keys.ids[key]]) + 1, np.int64)
        for vid, count in entries:
            lookup[vid] += count
        ids = m.domain_ids(key)
        out[key] = lookup[ids if rows is None else ids[rows]]
    return out


@dataclass
class Term:
    topology_key: str
    selector: dict[str, Any] | None
    namespaces: set[str] | None  # None: every namespace
    namespace_selector: dict[str, Any] | None
    weight: int = 0
    # The selector parsed once (None: matches nothing), not on every pod it is tried on.
    requirements: list[Any] | None = field(init=False, repr=False, compare=False)

    # What `matches` depends on, as one hashable value: pods' terms that are written alike
    # (every replica of a Deployment) are tried once per cycle against the incoming pod.
    identity: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.identity = repr(
            (
                self.selector,
                sorted(self.namespaces) if self.namespaces is not None else None,
                self.namespace_selector,
            )
        )
        try:
            parsed = from_label_selector(self.selector) if self.selector is not None else None
        except SelectorError:
            parsed = None
        self.requirements = parsed

    def matches(self, pod: Object, namespace_labels: Any) -> bool:
        if not self.in_namespace(pod_namespace(pod), namespace_labels):
            return False
        if self.requirements is None:
            return False
        return bool(match_labels(self.requirements, [pod_labels(pod)]))

    def in_namespace(self, ns: str, namespace_labels: Any) -> bool:
        """Whether pods of namespace `ns` are in the term's namespaces (or selected ones)."""
        in_ns = self.namespaces is not None and ns in self.namespaces
        if not in_ns and self.namespace_selector is not None:
            labels = namespace_labels(ns)
            in_ns = self.namespace_selector == {} or (
                labels is not None and selector_matches(self.namespace_selector, labels)
            )
        if self.namespaces is None and self.namespace_selector is None:
            in_ns = True
        return in_ns


# _terms of the pods seen lately, by object identity (a changed pod is a new object in the
# cache): existing pods' terms are read at every cycle, and parsing them again was most of
# PreFilter's time. Entries hold their pod, so an id is never reused while it is cached.
_TERMS_CACHE: dict[tuple[int, str, str], tuple[Object, list[Term]]] = {}
_TERMS_CACHE_SIZE = 100_000


def _terms(pod: Object, kind: str, mode: str) -> list[Term]:
    key = (id(pod), kind, mode)
    hit = _TERMS_CACHE.get(key)
    if hit is not None and hit[0] is pod:
        return hit[1]
    terms = _parse_terms(pod, kind, mode)
    if len(_TERMS_CACHE) >= _TERMS_CACHE_SIZE:
        _TERMS_CACHE.clear()
    _TERMS_CACHE[key] = (pod, terms)
    return terms


def _parse_terms(pod: Object, kind: str, mode: str) -> list[Term]:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    raw = affinity.get(f"{mode}DuringSchedulingIgnoredDuringExecution") or []
    labels = pod_labels(pod)
    out = []
    for entry in raw:
        weight = 0
        term = entry
        if mode == "preferred":
            weight = int(entry.get("weight") or 0)
            term = entry.get("podAffinityTerm") or {}
        selector = term.get("labelSelector")
        if selector is not None:
            selector = dict(selector)
            extra = [
                {"key": k, "operator": "In", "values": [labels[k]]}
                for k in term.get("matchLabelKeys") or []
                if k in labels
            ] + [
                {"key": k, "operator": "NotIn", "values": [labels[k]]}
                for k in term.get("mismatchLabelKeys") or []
                if k in labels
            ]
            if extra:
                selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *extra]
        names = set(term.get("namespaces") or [])
        ns_selector = term.get("namespaceSelector")
        if not names and ns_selector is None:
            names = {pod_namespace(pod)}
        out.append(
            Term(
                topology_key=str(term.get("topologyKey") or ""),
                selector=selector,
                namespaces=names,
                namespace_selector=ns_selector,
                weight=weight,
            )
        )
    return out


@dataclass
class _FilterState:
    affinity: list[Term]
    anti: list[Term]
    affinity_counts: Counter[Pair] = field(default_factory=Counter)
    anti_counts: Counter[Pair] = field(default_factory=Counter)
    existing_anti_counts: Counter[Pair] = field(default_factory=Counter)

    def clone(self) -> _FilterState:
        return _FilterState(
            self.affinity,
            self.anti,
            Counter(self.affinity_counts),
            Counter(self.anti_counts),
            Counter(self.existing_anti_counts),
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
                data.affinity_counts[(term.topology_key, labels[term.topology_key])] += d
        for term in data.anti:
            if term.topology_key in labels and term.matches(other, self._ns_labels):
                data.anti_counts[(term.topology_key, labels[term.topology_key])] += d
        for term in _terms(other, "podAntiAffinity", "required"):
            if term.topology_key in labels and term.matches(pod, self._ns_labels):
                data.existing_anti_counts[(term.topology_key, labels[term.topology_key])] += d

    def _count_all(self, data: _FilterState, pod: Object, snapshot: Snapshot) -> None:
        """`_count` of every pod of every node, each of the pod's terms matched in one call.

        The pods of occupied nodes (matrix `pod_count`) are gathered once; a term's selector
        runs over all those in its namespaces and on nodes with its topology key at once.
        """
        m = snapshot.matrix
        infos = snapshot.node_infos
        owners: list[NodeInfo] = []
        others: list[Object] = []
        for row in np.flatnonzero(m.pod_count[: m.n] > 0).tolist():
            info = infos[row]
            for held in info.pods.values():
                owners.append(info)
                others.append(held.pod)
        namespaces = [pod_namespace(o) for o in others]
        label_sets = [pod_labels(o) for o in others]
        in_ns: dict[tuple[int, str], bool] = {}
        for terms, counts in ((data.affinity, data.affinity_counts), (data.anti, data.anti_counts)):
            for term in terms:
                if term.requirements is None:
                    continue
                key = term.topology_key
                chosen = []
                for i, ns in enumerate(namespaces):
                    ok = in_ns.get((id(term), ns))
                    if ok is None:
                        ok = in_ns[(id(term), ns)] = term.in_namespace(ns, self._ns_labels)
                    if ok and key in owners[i].labels:
                        chosen.append(i)
                for j in match_labels(term.requirements, [label_sets[i] for i in chosen]):
                    counts[(key, owners[chosen[j]].labels[key])] += 1
        matched: dict[str, bool] = {}  # Term.identity -> whether it matches the pod
        for info, other in zip(owners, others, strict=True):
            labels = info.labels
            for term in _terms(other, "podAntiAffinity", "required"):
                if term.topology_key not in labels:
                    continue
                hit = matched.get(term.identity)
                if hit is None:
                    hit = matched[term.identity] = term.matches(pod, self._ns_labels)
                if hit:
                    data.existing_anti_counts[(term.topology_key, labels[term.topology_key])] += 1

    def pre_filter(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        data = _FilterState(
            _terms(pod, "podAffinity", "required"), _terms(pod, "podAntiAffinity", "required")
        )
        if data.affinity or data.anti:
            self._count_all(data, pod, snapshot)
        else:
            for info in snapshot.have_pods_with_required_anti_affinity():
                for other in info.pods_with_required_anti_affinity():
                    self._count(data, pod, other.pod, info, 1)
        if not data.affinity and not data.anti and not data.existing_anti_counts:
            return skip()
        state.write(state_key("PreFilter", NAME), data)
        return Status()

    def pre_filter_reference(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        """`pre_filter` pod by pod (the reference `_count_all` is tested against)."""
        data = _FilterState(
            _terms(pod, "podAffinity", "required"), _terms(pod, "podAntiAffinity", "required")
        )
        for info in snapshot.node_infos:
            for other in info.pods.values():
                self._count(data, pod, other.pod, info, 1)
        if not data.affinity and not data.anti and not data.existing_anti_counts:
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
                data.affinity_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0
                for t in data.affinity
            )
            # The first pod of a group with affinity to itself may go anywhere.
            if not satisfied and not (
                not any(v > 0 for v in data.affinity_counts.values())
                and all(t.matches(pod, self._ns_labels) for t in data.affinity)
            ):
                return unresolvable(ERR_REASON_AFFINITY)
        for t in data.anti:
            if t.topology_key in labels and (
                data.anti_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0
            ):
                return unschedulable(ERR_REASON_ANTI_AFFINITY)
        for (key, value), count in data.existing_anti_counts.items():
            if count > 0 and labels.get(key) == value:
                return unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return Status()

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        """`filter` over every matrix row: the counted domains as lookups by domain id."""
        m = snapshot.matrix
        codes = np.zeros(m.n, np.int64)
        data: _FilterState | None = state.get(state_key("PreFilter", NAME))
        if data is not None:
            zero = np.zeros(m.n, np.int64)
            if data.affinity:
                counts = _pair_values(m, data.affinity_counts)
                has_keys = np.ones(m.n, np.bool_)
                satisfied = np.ones(m.n, np.bool_)
                for t in data.affinity:
                    has_keys &= m.domain_ids(t.topology_key) >= 0
                    satisfied &= counts.get(t.topology_key, zero) > 0
                # The first pod of a group with affinity to itself may go anywhere.
                first_of_group = not any(v > 0 for v in data.affinity_counts.values()) and all(
                    t.matches(pod, self._ns_labels) for t in data.affinity
                )
                failing = ~has_keys if first_of_group else ~(has_keys & satisfied)
                codes[failing] = CODE_AFFINITY
            if data.anti:
                counts = _pair_values(m, data.anti_counts)
                blocked = np.zeros(m.n, np.bool_)
                for t in data.anti:
                    blocked |= counts.get(t.topology_key, zero) > 0
                codes[(codes == 0) & blocked] = CODE_ANTI_AFFINITY
            positive = Counter({k: 1 for k, v in data.existing_anti_counts.items() if v > 0})
            if positive:
                blocked = np.zeros(m.n, np.bool_)
                for near in _pair_values(m, positive).values():
                    blocked |= near > 0
                codes[(codes == 0) & blocked] = CODE_EXISTING_ANTI_AFFINITY

        def status_of(code: int) -> Status:
            make, reason = _REASONS[code]
            return make(reason)

        return NodeMask(codes, status_of)

    # -- score -----------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        preferred = _terms(pod, "podAffinity", "preferred")
        preferred_anti = _terms(pod, "podAntiAffinity", "preferred")
        snapshot = self.handle.snapshot if self.handle is not None else None
        has_constraints = bool(preferred or preferred_anti)
        everyone = nodes
        if snapshot is not None:  # upstream: only nodes with affinity pods, unless preferred
            everyone = (
                snapshot.node_infos if has_constraints else snapshot.have_pods_with_affinity()
            )
        scores: Counter[Pair] = Counter()
        seen = False
        for info in everyone:
            labels = info.labels
            candidates = info.pods.values() if has_constraints else info.pods_with_affinity()
            for other in candidates:
                seen = True
                for term in preferred:
                    if term.topology_key in labels and term.matches(other.pod, self._ns_labels):
                        scores[(term.topology_key, labels[term.topology_key])] += term.weight
                for term in preferred_anti:
                    if term.topology_key in labels and term.matches(other.pod, self._ns_labels):
                        scores[(term.topology_key, labels[term.topology_key])] -= term.weight
                if self.hard_weight > 0:
                    for term in _terms(other.pod, "podAffinity", "required"):
                        if term.topology_key in labels and term.matches(pod, self._ns_labels):
                            pair = (term.topology_key, labels[term.topology_key])
                            scores[pair] += self.hard_weight
                if not self.ignore_existing_preferred:
                    for term in _terms(other.pod, "podAffinity", "preferred"):
                        if term.topology_key in labels and term.matches(pod, self._ns_labels):
                            scores[(term.topology_key, labels[term.topology_key])] += term.weight
                    for term in _terms(other.pod, "podAntiAffinity", "preferred"):
                        if term.topology_key in labels and term.matches(pod, self._ns_labels):
                            scores[(term.topology_key, labels[term.topology_key])] -= term.weight
        if not has_constraints and not seen:
            return skip()
        state.write(state_key("PreScore", NAME), scores)
        return Status()

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        scores: Counter[Pair] = state.read(state_key("PreScore", NAME))
        labels = node_info.labels
        return sum(v for (key, value), v in scores.items() if labels.get(key) == value), Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """`score` for `rows`: each key's domain weights summed, as integer arrays."""
        scores: Counter[Pair] = state.read(state_key("PreScore", NAME))
        total = np.zeros(len(rows), np.int64)
        for near in _pair_values(snapshot.matrix, scores, rows).values():
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
