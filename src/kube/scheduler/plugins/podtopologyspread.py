"""PodTopologySpread: keep matching pods spread over topology domains (zones, hosts, ...).

Filter, for each `whenUnsatisfiable: DoNotSchedule` constraint: a node without the
constraint's topology key is UnschedulableAndUnresolvable "node(s) didn't match pod topology
spread constraints (missing required label)"; otherwise placing the pod in the node's domain
must keep `matching pods in the domain + 1 (if the pod matches itself) - the minimum over the
eligible domains <= maxSkew` (the minimum is 0 while fewer than `minDomains` domains exist),
else Unschedulable "node(s) didn't match pod topology spread constraints". Eligible domains
come from the nodes that pass the pod's node affinity / selector (`nodeAffinityPolicy:
Honor`, the default) and, with `nodeTaintsPolicy: Honor`, whose taints the pod tolerates.
Pods count when they are in the pod's namespace, not terminating, and match `labelSelector`
plus the pod's own values of `matchLabelKeys`.

Score, for `ScheduleAnyway` constraints: fewer matching pods in the node's domains is better
(upstream's log-weighted counts, normalised so the emptiest gets 100).

Default constraints (args `defaultingType`, `defaultConstraints`), for a pod that has none of
its own: with `System` (the default) upstream's system defaults, hostname maxSkew 3 and zone
maxSkew 5, both ScheduleAnyway; with `List` the `defaultConstraints` given. They apply only
to a pod that belongs to something: their selector is upstream's DefaultSelector, the
selectors of the Services that select the pod merged with that of its controlling
ReplicationController, ReplicaSet or StatefulSet (read from informers the scheduler starts
for this plugin); a pod that nothing selects is not spread. With the System defaults a node
that lacks a topology label is still scored (upstream's requireAllTopologies is off).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from kube.api.meta import Object
from kube.api.nodeaffinity import pod_admits_node, required_node_affinity
from kube.api.selectors import SelectorError, from_label_selector
from kube.api.taints import tolerated_by_any
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
from kube.scheduler.plugins.nodeaffinity import NodeAffinity
from kube.scheduler.plugins.tainttoleration import TaintToleration
from kube.scheduler.podmeta import (
    is_terminating,
    pod_labels,
    pod_namespace,
    selector_matches,
)

NAME = "PodTopologySpread"
ERR_REASON_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL = ERR_REASON_CONSTRAINTS + " (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SYSTEM = "System"
LIST = "List"
# upstream systemDefaultConstraints.
SYSTEM_DEFAULT_CONSTRAINTS: list[dict[str, Any]] = [
    {"topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 3},
    {"topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 5},
]
# The eligibility kernels (nodeAffinityPolicy / nodeTaintsPolicy: Honor), without plugin args.
_NODE_AFFINITY = NodeAffinity()
_TAINTS = TaintToleration()
# filter_nodes reason codes.
CODE_NODE_LABEL = 1
CODE_CONSTRAINTS = 2
OWNER_KINDS = {
    ("v1", "ReplicationController"): "replicationcontrollers",
    ("apps/v1", "ReplicaSet"): "replicasets",
    ("apps/v1", "StatefulSet"): "statefulsets",
}


@dataclass
class Constraint:
    max_skew: int
    topology_key: str
    selector: dict[str, Any] | None  # None matches no pod
    min_domains: int
    honor_affinity: bool
    honor_taints: bool


def constraints(
    pod: Object, action: str, specs: list[dict[str, Any]] | None = None
) -> list[Constraint]:
    """The pod's own constraints with `whenUnsatisfiable: action` (or those of `specs`)."""
    out = []
    labels = pod_labels(pod)
    if specs is None:
        specs = (pod.get("spec") or {}).get("topologySpreadConstraints") or []
    for c in specs:
        if (c.get("whenUnsatisfiable") or "DoNotSchedule") != action:
            continue
        selector = (
            dict(c.get("labelSelector") or {}) if c.get("labelSelector") is not None else None
        )
        if selector is not None:
            extra = [
                {"key": k, "operator": "In", "values": [labels[k]]}
                for k in c.get("matchLabelKeys") or []
                if k in labels
            ]
            if extra:
                selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *extra]
        out.append(
            Constraint(
                max_skew=int(c.get("maxSkew") or 1),
                topology_key=str(c.get("topologyKey") or ""),
                selector=selector,
                min_domains=int(c.get("minDomains") or 1),
                honor_affinity=(c.get("nodeAffinityPolicy") or "Honor") == "Honor",
                honor_taints=(c.get("nodeTaintsPolicy") or "Ignore") == "Honor",
            )
        )
    return out


def _eligible(pod: Object, c: Constraint, info: NodeInfo) -> bool:
    node = info.node or {}
    if c.honor_affinity and not pod_admits_node(pod, node):
        return False
    if c.honor_taints:
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerated_by_any(
                taint, tolerations
            ):
                return False
    return True


def _matching(pod: Object, c: Constraint, info: NodeInfo) -> int:
    ns = pod_namespace(pod)
    return sum(
        1
        for p in info.pods.values()
        if pod_namespace(p.pod) == ns
        and not is_terminating(p.pod)
        and selector_matches(c.selector, pod_labels(p.pod))
    )


@dataclass
class _FilterState:
    constraints: list[Constraint]
    counts: list[Counter[str]] = field(default_factory=list)  # per constraint: domain -> pods

    def clone(self) -> _FilterState:
        return _FilterState(self.constraints, [Counter(c) for c in self.counts])

    def min_match(self, i: int) -> int:
        counts = self.counts[i]
        if len(counts) < self.constraints[i].min_domains:
            return 0
        return min(counts.values(), default=0)


def _eligible_rows(pod: Object, c: Constraint, snapshot: Snapshot) -> npt.NDArray[np.bool_]:
    """`_eligible` for every matrix row, from the NodeAffinity and TaintToleration kernels."""
    eligible = np.ones(snapshot.matrix.n, np.bool_)
    spec = pod.get("spec") or {}
    if c.honor_affinity and (spec.get("nodeSelector") or required_node_affinity(pod) is not None):
        eligible &= _NODE_AFFINITY.filter_nodes(CycleState(), pod, snapshot).codes == 0
    if c.honor_taints:
        eligible &= _TAINTS.filter_nodes(CycleState(), pod, snapshot).codes == 0
    return eligible


def _domain_totals(
    pod: Object, c: Constraint, snapshot: Snapshot
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None:
    """Matching pods per domain id of `c.topology_key` over the eligible nodes, and which
    domain ids those nodes have (a domain with no matching pod counts as 0); None if no node
    has the key.

    The per-node counts come from the matrix's kept column for the constraint's selector
    (kube.scheduler.podcounts), so no pod is visited here; one `bincount` sums them.
    """
    m = snapshot.matrix
    col = m.label_keys.get(c.topology_key)
    if col < 0:
        return None
    ids = m.domain_ids(c.topology_key)
    counted = (ids >= 0) & _eligible_rows(pod, c, snapshot)
    domains = ids[counted]
    size = len(m.label_values[col])
    present = np.bincount(domains, minlength=size) > 0
    requirements = _requirements(c.selector)
    if requirements is None:
        return np.zeros(size, np.int64), present
    key = (
        pod_namespace(pod),
        orjson.dumps(c.selector, option=orjson.OPT_SORT_KEYS).decode(),
        False,  # terminating pods do not count
    )
    per_row = m.pod_counts.column(key, requirements, snapshot.node_infos, len(m.pod_count))
    totals = np.bincount(domains, weights=per_row[: m.n][counted], minlength=size)
    return totals.astype(np.int64), present


def _domain_counts(pod: Object, c: Constraint, snapshot: Snapshot) -> Counter[str]:
    """Matching pods per domain of `c.topology_key` over the eligible nodes (0 for empty ones)."""
    found = _domain_totals(pod, c, snapshot)
    if found is None:
        return Counter()
    totals, present = found
    values = snapshot.matrix.label_values[snapshot.matrix.label_keys.get(c.topology_key)].values
    return Counter({values[v]: int(totals[v]) for v in np.flatnonzero(present).tolist()})


def _requirements(selector: dict[str, Any] | None) -> list[Any] | None:
    """A LabelSelector parsed once (as `selector_matches` does), None if it matches nothing."""
    if not isinstance(selector, dict):
        return None
    try:
        return from_label_selector(selector)
    except SelectorError:
        return None


def _domain_lookup(
    m: NodeMatrix, key: str, counts: Counter[str], ids: npt.NDArray[np.int32]
) -> npt.NDArray[np.int64]:
    """The count of each node's domain under `key` (0 where the node lacks the key).

    `counts` maps domain value -> matching pods; it becomes an array indexed by the matrix's
    interned value id, so one fancy index answers every row at once.
    """
    col = m.label_keys.get(key)
    if col < 0:
        return np.zeros(len(ids), np.int64)
    interner = m.label_values[col]
    lookup = np.zeros(len(interner) + 1, np.int64)  # the last slot answers id -1
    for value, count in counts.items():
        vid = interner.get(value)
        if vid >= 0:
            lookup[vid] = count
    return lookup[ids]


@dataclass
class _ScoreState:
    """PreScore's result: per soft constraint its weight and the matching pods per domain,
    as a Counter of domain values (per-node path) or an array by domain id (vectorised)."""

    soft: list[Constraint]
    weights: list[float]
    ignored: set[str]  # nodes lacking a topology key when every key is required: score -1
    counts: list[Counter[str]] = field(default_factory=list)
    totals: list[npt.NDArray[np.int64]] | None = None
    matrix: NodeMatrix | None = None

    def count(self, i: int, value: str) -> int:
        if self.totals is None:
            return self.counts[i].get(value, 0)
        assert self.matrix is not None
        vid = self.matrix.label_value_id(self.soft[i].topology_key, value)
        lookup = self.totals[i]
        return int(lookup[vid]) if 0 <= vid < len(lookup) else 0


def _pre_score_per_node(
    pod: Object, soft: list[Constraint], require_all: bool, nodes: list[NodeInfo]
) -> _ScoreState:
    """PreScore node by node, for a snapshot without a matrix (and as the reference)."""
    ignored = (
        {n.name for n in nodes if any(c.topology_key not in n.labels for c in soft)}
        if require_all
        else set()
    )
    counts: list[Counter[str]] = [Counter() for _ in soft]
    domains: list[set[str]] = [set() for _ in soft]
    for info in nodes:
        if info.name in ignored:
            continue
        for i, c in enumerate(soft):
            domains[i].add(info.labels.get(c.topology_key, ""))
    for info in nodes:
        labels = info.labels
        for i, c in enumerate(soft):
            value = labels.get(c.topology_key)
            if value is None or value not in domains[i] or not _eligible(pod, c, info):
                continue
            counts[i][value] += _matching(pod, c, info)
    weights = []
    for i, c in enumerate(soft):
        size = len(nodes) - len(ignored) if c.topology_key == HOSTNAME else len(domains[i])
        weights.append(math.log(size + 2))
    return _ScoreState(soft, weights, ignored, counts)


def _vector_pre_score(
    pod: Object,
    soft: list[Constraint],
    require_all: bool,
    snapshot: Snapshot,
    nodes: list[NodeInfo],
    rows: npt.NDArray[np.int64] | None,
) -> _ScoreState:
    """PreScore over the matrix: the scored nodes' rows, the domains they span and the
    matching pods per domain id of the eligible nodes (the kept per-selector columns).

    Counting every eligible node's domain rather than only the scored nodes' changes nothing
    a score reads: a scored node's domain is always one of the scored nodes' domains."""
    m = snapshot.matrix
    if rows is None or len(rows) != len(nodes):
        rows = np.fromiter((m.index[n.name] for n in nodes), np.int64, len(nodes))
    lacking = np.zeros(len(rows), np.bool_)
    if require_all:
        for c in soft:
            lacking |= m.domain_ids(c.topology_key)[rows] < 0
    names = m.names
    ignored = {names[r] for r in rows[lacking].tolist()} if lacking.any() else set()
    scored = rows[~lacking]
    totals: list[npt.NDArray[np.int64]] = []
    weights = []
    for c in soft:
        found = _domain_totals(pod, c, snapshot)
        totals.append(found[0] if found is not None else np.zeros(0, np.int64))
        if c.topology_key == HOSTNAME:
            size = len(scored)
        else:
            ids = m.domain_ids(c.topology_key)[scored]
            # A node without the key is in the domain "" (as a node whose value is "").
            empty = m.label_value_id(c.topology_key, "")
            if empty >= 0:
                ids = np.where(ids < 0, empty, ids)
            size = len(np.unique(ids))
        weights.append(math.log(size + 2))
    return _ScoreState(soft, weights, ignored, totals=totals, matrix=m)


def _as_selector_parts(selector: dict[str, Any]) -> list[dict[str, Any]]:
    """A LabelSelector as match expressions (so several can be ANDed into one)."""
    parts = [
        {"key": str(k), "operator": "In", "values": [str(v)]}
        for k, v in (selector.get("matchLabels") or {}).items()
    ]
    return parts + list(selector.get("matchExpressions") or [])


class PodTopologySpread(Plugin):
    NAME = NAME

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.defaulting_type = str(self.args.get("defaultingType") or SYSTEM)
        given = list(self.args.get("defaultConstraints") or [])
        if self.defaulting_type not in (SYSTEM, LIST):
            raise ValueError(
                "PodTopologySpreadArgs: defaultingType: Unsupported value: "
                f'"{self.defaulting_type}": supported values: "List", "System"'
            )
        if self.defaulting_type == SYSTEM and given:
            raise ValueError(
                "PodTopologySpreadArgs: defaultConstraints: Invalid value: "
                'when .defaultingType is "System", .defaultConstraints must be empty'
            )
        for c in given:
            if c.get("labelSelector") is not None:
                raise ValueError(
                    "PodTopologySpreadArgs: defaultConstraints.labelSelector: Forbidden: "
                    "constraint must not define a selector, as they deduced for each pod"
                )
        self.default_specs = SYSTEM_DEFAULT_CONSTRAINTS if self.defaulting_type == SYSTEM else given
        self.system_defaulted = self.defaulting_type == SYSTEM
        # Listers of the pods' owners (`set_informers`); none means no default constraints.
        self.listers: dict[str, Any] = {}

    def set_informers(self, informers: Any) -> None:
        """Watch what DefaultSelector reads (called by the scheduler before it starts)."""
        if not self.default_specs:
            return
        from kube.api.resources import resource

        for name in ("services", *OWNER_KINDS.values()):
            self.listers[name] = informers.informer(resource(name)).lister()

    def default_selector(self, pod: Object) -> dict[str, Any] | None:
        """upstream helper.DefaultSelector: Services selecting the pod and its controller."""
        ns = pod_namespace(pod)
        labels = pod_labels(pod)
        merged: dict[str, str] = {}
        services = self.listers.get("services")
        for service in services.list(ns) if services is not None else []:
            selector = (service.get("spec") or {}).get("selector") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                merged.update({str(k): str(v) for k, v in selector.items()})
        expressions: list[dict[str, Any]] = []
        owner = next(
            (
                ref
                for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
                if ref.get("controller")
            ),
            None,
        )
        kind = OWNER_KINDS.get((owner.get("apiVersion"), owner.get("kind"))) if owner else None
        lister = self.listers.get(kind) if kind else None
        found = lister.get(str(owner.get("name")), ns) if lister is not None and owner else None
        if found is not None:
            selector = (found.get("spec") or {}).get("selector") or {}
            if kind == "replicationcontrollers":
                merged.update({str(k): str(v) for k, v in selector.items()})
            else:
                expressions = _as_selector_parts(selector)
        if not merged and not expressions:
            return None
        return {"matchLabels": merged, "matchExpressions": expressions}

    def pod_constraints(self, pod: Object, action: str) -> list[Constraint]:
        """The pod's constraints for `action`, or the defaults when it has none of its own."""
        if (pod.get("spec") or {}).get("topologySpreadConstraints"):
            return constraints(pod, action)
        specs = [
            c
            for c in self.default_specs
            if (c.get("whenUnsatisfiable") or "DoNotSchedule") == action
        ]
        if not specs:
            return []
        selector = self.default_selector(pod)
        if selector is None:
            return []
        return constraints(pod, action, [{**c, "labelSelector": selector} for c in specs])

    def pre_filter(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        hard = self.pod_constraints(pod, "DoNotSchedule")
        if not hard:
            return skip()
        data = _FilterState(hard, [_domain_counts(pod, c, snapshot) for c in hard])
        state.write(state_key("PreFilter", NAME), data)
        return Status()

    def pre_filter_reference(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        """`pre_filter` node by node (the reference the vectorised counts are tested against)."""
        hard = self.pod_constraints(pod, "DoNotSchedule")
        if not hard:
            return skip()
        data = _FilterState(hard, [Counter() for _ in hard])
        for info in snapshot.node_infos:
            labels = info.labels
            for i, c in enumerate(hard):
                if c.topology_key not in labels or not _eligible(pod, c, info):
                    continue
                data.counts[i][labels[c.topology_key]] += _matching(pod, c, info)
        state.write(state_key("PreFilter", NAME), data)
        return Status()

    def _update(
        self, state: CycleState, pod: Object, other: Object, info: NodeInfo, d: int
    ) -> Status:
        data: _FilterState | None = state.get(state_key("PreFilter", NAME))
        if data is None or pod_namespace(other) != pod_namespace(pod):
            return Status()
        labels = info.labels
        for i, c in enumerate(data.constraints):
            if c.topology_key in labels and selector_matches(c.selector, pod_labels(other)):
                data.counts[i][labels[c.topology_key]] += d
        return Status()

    def add_pod(self, state: CycleState, pod: Object, to_add: Object, info: NodeInfo) -> Status:
        return self._update(state, pod, to_add, info, 1)

    def remove_pod(
        self, state: CycleState, pod: Object, to_remove: Object, info: NodeInfo
    ) -> Status:
        return self._update(state, pod, to_remove, info, -1)

    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        data: _FilterState | None = state.get(state_key("PreFilter", NAME))
        if data is None:
            return Status()
        labels = node_info.labels
        own = pod_labels(pod)
        for i, c in enumerate(data.constraints):
            if c.topology_key not in labels:
                return unresolvable(ERR_REASON_NODE_LABEL)
            self_match = 1 if selector_matches(c.selector, own) else 0
            match = data.counts[i].get(labels[c.topology_key], 0)
            if match + self_match - data.min_match(i) > c.max_skew:
                return unschedulable(ERR_REASON_CONSTRAINTS)
        return Status()

    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask:
        """`filter` over every matrix row: a domain-id -> count lookup per constraint."""
        m = snapshot.matrix
        codes = np.zeros(m.n, np.int64)
        data: _FilterState | None = state.get(state_key("PreFilter", NAME))
        if data is not None:
            own = pod_labels(pod)
            for i, c in enumerate(data.constraints):
                ids = m.domain_ids(c.topology_key)
                missing = ids < 0
                self_match = 1 if selector_matches(c.selector, own) else 0
                match = _domain_lookup(m, c.topology_key, data.counts[i], ids)
                too_skewed = ~missing & (match + self_match - data.min_match(i) > c.max_skew)
                undecided = codes == 0
                codes[undecided & missing] = CODE_NODE_LABEL
                codes[undecided & too_skewed] = CODE_CONSTRAINTS

        def status_of(code: int) -> Status:
            if code == CODE_NODE_LABEL:
                return unresolvable(ERR_REASON_NODE_LABEL)
            return unschedulable(ERR_REASON_CONSTRAINTS)

        return NodeMask(codes, status_of)

    # -- score -----------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        soft = self.pod_constraints(pod, "ScheduleAnyway")
        if not soft:
            return skip()
        snapshot = self.handle.snapshot if self.handle is not None else None
        # upstream requireAllTopologies: off only for the System defaults.
        own = bool((pod.get("spec") or {}).get("topologySpreadConstraints"))
        require_all = own or not self.system_defaulted
        if snapshot is not None and snapshot.matrix is not None and len(snapshot):
            data = _vector_pre_score(pod, soft, require_all, snapshot, nodes, state.feasible_rows)
        else:
            data = _pre_score_per_node(pod, soft, require_all, nodes)
        state.write(state_key("PreScore", NAME), data)
        return Status()

    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]:
        data: _ScoreState = state.read(state_key("PreScore", NAME))
        if node_info.name in data.ignored:
            return -1, Status()
        total = 0.0
        for i, c in enumerate(data.soft):
            value = node_info.labels.get(c.topology_key)
            if value is not None:
                total += float(data.count(i, value)) * data.weights[i] + float(c.max_skew - 1)
        return math.floor(total + 0.5), Status()

    def score_nodes(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """`score` for `rows`: the same float sum, constraint by constraint, as arrays."""
        data: _ScoreState = state.read(state_key("PreScore", NAME))
        m = snapshot.matrix
        total = np.zeros(len(rows), np.float64)
        for i, c in enumerate(data.soft):
            ids = m.domain_ids(c.topology_key)[rows]
            if data.totals is not None:
                lookup = np.append(data.totals[i], 0)  # the last slot answers unknown ids
                known = (ids >= 0) & (ids < len(lookup) - 1)
                match = lookup[np.where(known, ids, -1)].astype(np.float64)
            else:
                match = _domain_lookup(m, c.topology_key, data.counts[i], ids).astype(np.float64)
            total += np.where(ids >= 0, match * data.weights[i] + float(c.max_skew - 1), 0.0)
        scores = np.floor(total + 0.5).astype(np.int64)
        if data.ignored:
            names = m.names
            skipped = [k for k, row in enumerate(rows.tolist()) if names[row] in data.ignored]
            scores[skipped] = -1
        return scores

    def normalize_scores(self, state: CycleState, pod: Object, scores: list[int]) -> Status:
        valid = [s for s in scores if s >= 0]
        low, high = min(valid, default=0), max(valid, default=0)
        for i, s in enumerate(scores):
            if s < 0:
                scores[i] = 0
            elif high == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (high + low - s) // high
        return Status()

    def events_to_register(self) -> list[ClusterEventWithHint]:
        return [
            ClusterEventWithHint(ClusterEvent(ASSIGNED_POD, ActionType.all())),
            ClusterEventWithHint(
                ClusterEvent(
                    NODE,
                    ActionType.ADD
                    | ActionType.DELETE
                    | ActionType.UPDATE_NODE_LABEL
                    | ActionType.UPDATE_NODE_TAINT,
                )
            ),
        ]
