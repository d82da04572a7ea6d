"""Per-node counts of the pods that match a (namespace, label selector), kept incrementally.

PodTopologySpread counts, for every pod it schedules, the pods in the pod's namespace that
match a constraint's selector, per topology domain. Walking every pod of the cluster per cycle
is what upstream does (in parallel Go); here it cost milliseconds per pod at 10,000 pods. The
pods of one Deployment share one selector, so the count per node of a selector seen recently
is kept as a column beside the node matrix: filled once with a pass over all pods when the
selector first shows up. After that a column is brought up to date when it is read, for the
rows that changed since its last read: the cache marks a node's row whenever its NodeInfo
changes (every pod added, assumed or removed), a column remembers the mark of each row it
counted, and only the rows whose marks differ are counted again. A pod event thus costs the
same however many selectors are kept, and a selector nobody asks for costs nothing; in
clusterloader2's load profile (a Service per Deployment, hundreds of selectors alive at once)
recounting every kept column on each pod event had been a quarter of the scheduler. A cycle
then sums the column per domain with one `np.bincount`.

The last `LIMIT` selectors are kept (least recently used dropped). A terminating pod does not
count for PodTopologySpread, as upstream's `countPodsMatchSelector`; it does for
InterPodAffinity, whose keys say so.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.native import match_labels
from kube.scheduler.framework.nodeinfo import NodeInfo

LIMIT = 512  # selectors kept; each costs an int32 and an int64 per node

Key = tuple[str, str, bool]  # (namespace, canonical selector, terminating pods count)


def counted_as(pod: Any) -> tuple[object, bool]:
    """What decides whether a pod counts for a selector, besides its namespace."""
    meta = pod.get("metadata") or {}
    return meta.get("labels"), bool(meta.get("deletionTimestamp"))


def matching_pods(
    namespace: str,
    requirements: list[Any],
    infos: Iterable[NodeInfo],
    terminating: bool = False,
) -> list[int]:
    """How many of each node's pods are in `namespace` and match (terminating ones too if
    `terminating`)."""
    owners: list[int] = []
    label_sets: list[dict[str, str]] = []
    sizes = 0
    for position, info in enumerate(infos):
        sizes = position + 1
        for p in info.pods.values():
            meta = p.pod.get("metadata")
            if not isinstance(meta, dict) or (meta.get("deletionTimestamp") and not terminating):
                continue
            if (meta.get("namespace") or "") == namespace:
                labels = meta.get("labels")
                owners.append(position)
                label_sets.append(labels if isinstance(labels, dict) else {})
    counts = [0] * sizes
    for index in match_labels(requirements, label_sets):
        counts[owners[index]] += 1
    return counts


class _Column:
    __slots__ = ("counts", "namespace", "requirements", "seen", "terminating")

    def __init__(self, key: Key, requirements: list[Any], marks: npt.NDArray[np.int64]) -> None:
        self.namespace, _, self.terminating = key
        self.requirements = requirements
        self.counts: npt.NDArray[np.int32] = np.zeros(len(marks), np.int32)
        # The row marks the counts were taken at (see PodCounts.marks).
        self.seen: npt.NDArray[np.int64] = marks.copy()


class PodCounts:
    """The kept selector columns of one node matrix; rows follow the matrix's rows."""

    def __init__(self) -> None:
        self._columns: OrderedDict[Key, _Column] = OrderedDict()
        # Per row, a mark that changes whenever the row's pods may have: a column whose `seen`
        # differs for a row counts that row again when read.
        self.marks: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        self._tick = 0
        # The pods of each namespace by row, as (labels, terminating), rewritten with the row:
        # a fill or a recount reads only the pods of the column's namespace.
        self._by_namespace: dict[str, dict[int, list[tuple[dict[str, str], bool]]]] = {}
        self._row_namespaces: dict[int, tuple[str, ...]] = {}
        self.fills = 0  # full passes made (a selector seen for the first time, or again)
        self.recounts = 0  # rows counted again on a read

    def __len__(self) -> int:
        return len(self._columns)

    def column(
        self,
        key: Key,
        requirements: list[Any],
        infos: Sequence[NodeInfo],
        capacity: int,
    ) -> npt.NDArray[np.int32]:
        """The per-row counts of `key` (its first `len(infos)` entries are the live rows).

        `infos` are the matrix's NodeInfos in row order (only their number is read: the pods
        come from the namespace index that `recount` keeps)."""
        if len(self.marks) < capacity:
            self.grow(capacity)
        live = len(infos)
        column = self._columns.get(key)
        if column is None:
            column = _Column(key, requirements, self.marks)
            self._count(column, sorted(self._by_namespace.get(key[0], ())))
            self._columns[key] = column
            self.fills += 1
            while len(self._columns) > LIMIT:
                self._columns.popitem(last=False)
            return column.counts
        self._columns.move_to_end(key)
        changed = np.flatnonzero(column.seen[:live] != self.marks[:live])
        if changed.size:
            column.counts[changed] = 0
            column.seen[changed] = self.marks[changed]
            rows = self._by_namespace.get(column.namespace, {})
            self._count(column, [r for r in changed.tolist() if r in rows])
            self.recounts += int(changed.size)
        return column.counts

    def _count(self, column: _Column, rows: list[int]) -> None:
        """Add to `column` the matching pods of its namespace on `rows` (their counts are 0)."""
        by_row = self._by_namespace.get(column.namespace, {})
        owners: list[int] = []
        label_sets: list[dict[str, str]] = []
        for row in rows:
            for labels, terminating in by_row[row]:
                if terminating and not column.terminating:
                    continue
                owners.append(row)
                label_sets.append(labels)
        counts = column.counts
        for index in match_labels(column.requirements, label_sets):
            counts[owners[index]] += 1

    # -- kept current by NodeMatrix ----------------------------------------------------------

    def recount(self, row: int, info: NodeInfo) -> None:
        """The pods of `row` changed: index them by namespace; the kept columns count the row
        again when next read."""
        groups: dict[str, list[tuple[dict[str, str], bool]]] = {}
        for p in info.pods.values():
            meta = p.pod.get("metadata")
            if not isinstance(meta, dict):
                continue
            labels = meta.get("labels")
            groups.setdefault(str(meta.get("namespace") or ""), []).append(
                (labels if isinstance(labels, dict) else {}, bool(meta.get("deletionTimestamp")))
            )
        self._set_row(row, groups)
        self._mark(row)

    def _set_row(self, row: int, groups: dict[str, list[tuple[dict[str, str], bool]]]) -> None:
        for namespace in self._row_namespaces.pop(row, ()):
            if namespace not in groups:
                rows = self._by_namespace[namespace]
                del rows[row]
                if not rows:
                    del self._by_namespace[namespace]
        for namespace, entries in groups.items():
            self._by_namespace.setdefault(namespace, {})[row] = entries
        if groups:
            self._row_namespaces[row] = tuple(groups)

    def _row_groups(self, row: int) -> dict[str, list[tuple[dict[str, str], bool]]]:
        return {ns: self._by_namespace[ns][row] for ns in self._row_namespaces.get(row, ())}

    def _mark(self, row: int) -> None:
        if row >= len(self.marks):
            self.grow(row + 1)
        self._tick += 1
        self.marks[row] = self._tick

    def grow(self, capacity: int) -> None:
        if capacity <= len(self.marks):
            return
        marks = np.zeros(capacity, np.int64)
        marks[: len(self.marks)] = self.marks
        self.marks = marks
        for column in self._columns.values():
            for name in ("counts", "seen"):
                old = getattr(column, name)
                grown = np.zeros(capacity, old.dtype)
                grown[: len(old)] = old
                setattr(column, name, grown)

    def move(self, source: int, target: int) -> None:
        for column in self._columns.values():
            column.counts[target] = column.counts[source]
            column.counts[source] = 0
            column.seen[target] = column.seen[source]
        if source < len(self.marks):
            self.marks[target] = self.marks[source]
        moved = self._row_groups(source)
        self._set_row(source, {})
        self._set_row(target, moved)
        self._mark(source)

    def clear_row(self, row: int) -> None:
        for column in self._columns.values():
            column.counts[row] = 0
        self._set_row(row, {})
        self._mark(row)
