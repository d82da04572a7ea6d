"""The node matrix: every node as one row of numpy columns, kept current by the cache.

The scheduler's vectorised Filter and Score kernels read the nodes from here instead of
walking NodeInfo objects: one pass over all rows answers "which nodes fit this pod, and why
not" and "how good is each". The columns, row i being the node `names[i]`:

- `allocatable`, `requested`, `non_zero_requested`: int64 [rows, resources]; the resource
  columns are interned (`resources`): 0 pods, 1 cpu (millicores), 2 memory, 3
  ephemeral-storage, then extended resources as they are first seen (a new column is zero
  for every node, which is what a node without that resource has);
- `pod_count` int64 and `unschedulable` bool per row;
- `labels` int32 [rows, label keys]: the interned value id of each label key, -1 where the
  node lacks the label; a topology key's column is its topology domain id;
- `taint_ids` int32 [rows, max taints per node]: interned (key, value, effect) ids in the
  node's order, padded with -1;
- `port_counts` int32 [rows, host ports]: how many pods hold each interned (protocol, ip,
  port) on the node;
- `pod_counts`: per-row counts of the pods matching recently used (namespace, selector)
  pairs, for PodTopologySpread and InterPodAffinity (see kube.scheduler.podcounts),
  recounted with the row;
- `term_counts`: per-row sums of the (anti-)affinity terms the row's pods carry, grouped by
  term, for InterPodAffinity (see kube.scheduler.termcounts), recounted with the row.

Rows are updated one node at a time from the cache (`update(node_info)` rewrites that row,
O(columns)); a removed node's row is filled with the last row, so the live rows stay
contiguous (`[:n]` views) and are never rebuilt per pod. Capacity doubles when full; new
columns are appended when a new resource, label key, taint or port appears.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt

from kube.scheduler.framework.nodeinfo import HostPort, NodeInfo
from kube.scheduler.framework.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS
from kube.scheduler.podcounts import PodCounts
from kube.scheduler.termcounts import TermCounts

H = TypeVar("H", bound=Hashable)
A = TypeVar("A", bound=npt.NDArray[Any])

FIXED_RESOURCES = (PODS, CPU, MEMORY, EPHEMERAL_STORAGE)

Taint = tuple[str, str, str]  # (key, value, effect)


class Interner(Generic[H]):
    """Stable small-integer ids for values, in order of first sight."""

    def __init__(self, initial: tuple[H, ...] = ()) -> None:
        self.ids: dict[H, int] = {}
        self.values: list[H] = []
        for value in initial:
            self.intern(value)

    def intern(self, value: H) -> int:
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.values)
            self.values.append(value)
        return found

    def get(self, value: H) -> int:
        """The id of `value`, -1 if it was never interned."""
        return self.ids.get(value, -1)

    def __len__(self) -> int:
        return len(self.values)


def _grow_cols(array: A, cols: int, fill: int) -> A:
    if array.shape[1] >= cols:
        return array
    wider = np.full((array.shape[0], max(cols, 2 * array.shape[1], 4)), fill, dtype=array.dtype)
    wider[:, : array.shape[1]] = array
    return cast(A, wider)


def _grow_rows(array: A, rows: int, fill: int) -> A:
    taller = np.full((rows, *array.shape[1:]), fill, dtype=array.dtype)
    taller[: array.shape[0]] = array
    return cast(A, taller)


class NodeMatrix:
    def __init__(self, capacity: int = 64) -> None:
        self.n = 0
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.generation = 0
        self.resources: Interner[str] = Interner(FIXED_RESOURCES)
        self.label_keys: Interner[str] = Interner()
        self.label_values: list[Interner[str]] = []
        self.taints: Interner[Taint] = Interner()
        self.ports: Interner[HostPort] = Interner()
        r = len(FIXED_RESOURCES)
        self.allocatable = np.zeros((capacity, r), np.int64)
        self.requested = np.zeros((capacity, r), np.int64)
        self.non_zero_requested = np.zeros((capacity, r), np.int64)
        self.pod_count = np.zeros(capacity, np.int64)
        self.unschedulable = np.zeros(capacity, np.bool_)
        self.labels = np.full((capacity, 4), -1, np.int32)
        self.taint_ids = np.full((capacity, 2), -1, np.int32)
        self.port_counts = np.zeros((capacity, 4), np.int32)
        self.pod_counts = PodCounts()  # per-row matching pods of recent selectors
        self.term_counts = TermCounts(capacity)  # per-row sums of the pods' affinity terms

    # -- interning -------------------------------------------------------------------------

    def resource_column(self, name: str) -> int:
        """The column of a resource, adding a zero column the first time it is seen."""
        col = self.resources.intern(name)
        if col >= self.allocatable.shape[1]:
            for attr in ("allocatable", "requested", "non_zero_requested"):
                setattr(self, attr, _grow_cols(getattr(self, attr), col + 1, 0))
        return col

    def label_column(self, key: str) -> int:
        col = self.label_keys.intern(key)
        if col == len(self.label_values):
            self.label_values.append(Interner())
        self.labels = _grow_cols(self.labels, col + 1, -1)
        return col

    def label_value_id(self, key: str, value: str) -> int:
        """The interned id of `value` under `key`; -1 if no node ever had it."""
        col = self.label_keys.get(key)
        return -1 if col < 0 else self.label_values[col].get(value)

    def domain_ids(self, key: str) -> npt.NDArray[np.int32]:
        """The live rows' value ids of label `key` (its topology domain ids), -1 where absent.

        A key no node ever had is -1 everywhere; the topology spread and inter-pod affinity
        kernels index per-domain lookup arrays with this column.
        """
        col = self.label_keys.get(key)
        if col < 0:
            return np.full(self.n, -1, np.int32)
        return self.labels[: self.n, col]

    def port_id(self, port: HostPort) -> int:
        pid = self.ports.intern(port)
        self.port_counts = _grow_cols(self.port_counts, pid + 1, 0)
        return pid

    # -- rows ------------------------------------------------------------------------------

    def _row(self, name: str) -> int:
        row = self.index.get(name)
        if row is not None:
            return row
        if self.n == self.allocatable.shape[0]:
            rows = 2 * self.n
            for attr, fill in (
                ("allocatable", 0),
                ("requested", 0),
                ("non_zero_requested", 0),
                ("pod_count", 0),
                ("unschedulable", 0),
                ("labels", -1),
                ("taint_ids", -1),
                ("port_counts", 0),
            ):
                setattr(self, attr, _grow_rows(getattr(self, attr), rows, fill))
            self.pod_counts.grow(rows)
            self.term_counts.grow(rows)
        row = self.n
        self.n += 1
        self.names.append(name)
        self.index[name] = row
        return row

    def update(self, info: NodeInfo) -> None:
        """Rewrite the row of `info`'s node from the NodeInfo (adding the row if new)."""
        assert info.node is not None, "only nodes the cache has seen get a row"
        row = self._row(info.name)
        self.generation += 1
        for name in (*info.allocatable, *info.requested, *info.non_zero_requested):
            self.resource_column(name)
        self.allocatable[row] = 0
        self.requested[row] = 0
        self.non_zero_requested[row] = 0
        for name, value in info.allocatable.items():
            self.allocatable[row, self.resources.ids[name]] = value
        for name, value in info.requested.items():
            self.requested[row, self.resources.ids[name]] = value
        for name, value in info.non_zero_requested.items():
            self.non_zero_requested[row, self.resources.ids[name]] = value
        self.pod_count[row] = len(info.pods)
        spec = info.node.get("spec") or {}
        self.unschedulable[row] = bool(spec.get("unschedulable"))
        self.labels[row] = -1
        for key, label in info.labels.items():
            col = self.label_column(str(key))
            self.labels[row, col] = self.label_values[col].intern(str(label))
        taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
        self.taint_ids = _grow_cols(self.taint_ids, len(taints), -1)
        self.taint_ids[row] = -1
        for i, taint in enumerate(taints):
            interned = (
                str(taint.get("key") or ""),
                str(taint.get("value") or ""),
                str(taint.get("effect") or ""),
            )
            self.taint_ids[row, i] = self.taints.intern(interned)
        for port in info.used_ports:
            self.port_id(port)
        self.port_counts[row] = 0
        for port, count in info.used_ports.items():
            self.port_counts[row, self.ports.ids[port]] = count
        self.recount_pods(row, info)

    def recount_pods(self, row: int, info: NodeInfo) -> None:
        """Rewrite what `row` keeps about its pods' labels and terms (not their requests)."""
        self.pod_counts.recount(row, info)
        self.term_counts.recount(row, info)

    def remove(self, name: str) -> None:
        row = self.index.pop(name, None)
        if row is None:
            return
        self.generation += 1
        last = self.n - 1
        self.term_counts.remove_row(row, last)
        if row != last:
            moved = self.names[last]
            for attr in (
                "allocatable",
                "requested",
                "non_zero_requested",
                "pod_count",
                "unschedulable",
                "labels",
                "taint_ids",
                "port_counts",
            ):
                array = getattr(self, attr)
                array[row] = array[last]
            self.names[row] = moved
            self.index[moved] = row
            self.pod_counts.move(last, row)
        else:
            self.pod_counts.clear_row(row)
        self.names.pop()
        self.n = last
