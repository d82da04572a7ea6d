"""The vectorised Filter and Score kernels over the node matrix, behind one kernel table.

Each kernel answers for every row of the matrix at once (numpy, no Python loop over nodes);
its per-node pure-Python reference is the plugin's own `filter`/`score` on one NodeInfo
(upstream's algorithm read off the NodeInfo), and tests/scheduler/test_kernels.py checks on
random clusters and pods that both give the same mask, the same reasons and the same scores.

The table follows kube.native's style: each row names the kernel, the language of the
compiled version and where it lives (`kube.native._scheduler`, src/_native/scheduler.pyx,
Cython over typed memoryviews). `resolve()` takes the compiled callable when its module
imports and the numpy one otherwise, or when `KUBE_NO_NATIVE=1` or
`KUBE_NO_NATIVE_SCHEDULER=fit_filter,...` says so; `kernel_status()` tells which one each
kernel got and why. Kernels take plain arrays and ints, never NodeInfo or
the matrix object, so the compiled versions can share the signature:

- `fit_filter(allocatable, requested, pod_count, request, cols) -> codes`: bit c set where
  resource column c is short (bit 0: too many pods);
- `taint_filter(taint_ids, tolerated) -> codes`: 1 + the id of the first untolerated taint;
- `count_untolerated(taint_ids, counted) -> counts` (TaintToleration's score);
- `label_requirement(labels_col, op, ids, lookup) -> mask` (NodeAffinity terms);
- `ports_filter(port_counts, conflicting) -> codes`;
- `least_allocated` / `most_allocated` / `balanced_allocation` scores, of the given `rows`
  only when passed (the feasible rows; gathering the matrix at them cost more than scoring);
- `score_bounds(scores) -> (min, max)`, the runtime's range check of a plugin's scores.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from kube.native import Kernel

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bool = npt.NDArray[np.bool_]

MAX_NODE_SCORE = 100


def fit_filter(allocatable: I64, requested: I64, pod_count: I64, request: I64, cols: I64) -> I64:
    """Bit c of a row's code is set where resource column c does not have room for the pod."""
    codes = (pod_count + 1 > allocatable[:, 0]).astype(np.int64)
    for c in cols.tolist():
        short = allocatable[:, c] - requested[:, c] < request[c]
        codes |= short.astype(np.int64) << np.int64(c)
    return codes


def taint_filter(taint_ids: I32, tolerated: Bool) -> I64:
    """0 where every taint the filter considers is tolerated, else 1 + the first one's id."""
    lookup = np.append(tolerated, True)  # the padding id -1 reads the last entry: tolerated
    bad = ~lookup[taint_ids]
    first = bad.argmax(axis=1)
    found = bad[np.arange(len(taint_ids)), first]
    codes: I64 = np.where(
        found, taint_ids[np.arange(len(taint_ids)), first].astype(np.int64) + 1, 0
    ).astype(np.int64)
    return codes


def count_untolerated(taint_ids: I32, counted: Bool) -> I64:
    """Per row, how many of its taints are `counted` (PreferNoSchedule and not tolerated)."""
    lookup = np.append(counted, False)
    counts: I64 = lookup[taint_ids].sum(axis=1, dtype=np.int64)
    return counts


def label_requirement(column: I32, op: str, ids: I32, lookup: Bool) -> Bool:
    """One NodeSelectorRequirement over a label column of value ids (-1: label absent).

    `ids` are the interned ids of the requirement's values (In/NotIn); `lookup[id]` is the
    precomputed answer per value id (Gt/Lt), with the absent case in the last entry.
    """
    present = column >= 0
    if op == "In":
        return present & np.isin(column, ids)
    if op == "NotIn":
        return ~(present & np.isin(column, ids))
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return ~present
    looked: Bool = lookup[column]
    return looked


def ports_filter(port_counts: I32, conflicting: I64) -> I64:
    if len(conflicting) == 0:
        return np.zeros(len(port_counts), np.int64)
    codes: I64 = np.asarray((port_counts[:, conflicting] > 0).any(axis=1), dtype=np.int64)
    return codes


def least_allocated(
    allocatable: I64, used: I64, request: I64, cols: I64, weights: I64, rows: I64 | None = None
) -> I64:
    """upstream leastResourceScorer: mean over resources of (free after the pod) * 100 / alloc."""
    if rows is not None:
        allocatable, used = allocatable[rows], used[rows]
    total = np.zeros(len(allocatable), np.int64)
    weight_sum = np.zeros(len(allocatable), np.int64)
    for c, w in zip(cols.tolist(), weights.tolist(), strict=True):
        alloc = allocatable[:, c]
        want = used[:, c] + request[c]
        valid = alloc != 0
        safe = np.where(valid, alloc, 1)
        score = np.where(want > alloc, 0, (alloc - want) * MAX_NODE_SCORE // safe)
        total += np.where(valid, score * w, 0)
        weight_sum += np.where(valid, w, 0)
    return np.where(weight_sum == 0, 0, total // np.where(weight_sum == 0, 1, weight_sum))


def most_allocated(
    allocatable: I64, used: I64, request: I64, cols: I64, weights: I64, rows: I64 | None = None
) -> I64:
    """upstream mostResourceScorer: mean over resources of requested * 100 / alloc (capped)."""
    if rows is not None:
        allocatable, used = allocatable[rows], used[rows]
    total = np.zeros(len(allocatable), np.int64)
    weight_sum = np.zeros(len(allocatable), np.int64)
    for c, w in zip(cols.tolist(), weights.tolist(), strict=True):
        alloc = allocatable[:, c]
        want = np.minimum(used[:, c] + request[c], alloc)
        valid = alloc != 0
        safe = np.where(valid, alloc, 1)
        total += np.where(valid, want * MAX_NODE_SCORE // safe * w, 0)
        weight_sum += np.where(valid, w, 0)
    return np.where(weight_sum == 0, 0, total // np.where(weight_sum == 0, 1, weight_sum))


def balanced_allocation(
    allocatable: I64, used: I64, request: I64, cols: I64, rows: I64 | None = None
) -> I64:
    """upstream balancedResourceScorer: (1 - std of the requested fractions) * 100."""
    if rows is not None:
        allocatable, used = allocatable[rows], used[rows]
    n = len(allocatable)
    fractions: list[npt.NDArray[np.float64]] = []
    valids: list[Bool] = []
    total = np.zeros(n)
    count = np.zeros(n, np.int64)
    for c in cols.tolist():
        alloc = allocatable[:, c]
        valid = alloc != 0
        fraction = np.minimum(
            (used[:, c] + request[c]).astype(np.float64) / np.where(valid, alloc, 1), 1.0
        )
        fraction = np.where(valid, fraction, 0.0)
        total += fraction
        count += valid
        fractions.append(fraction)
        valids.append(valid)
    std = np.zeros(n)
    if fractions:
        f = np.stack(fractions, axis=1)
        v = np.stack(valids, axis=1)
        rows = np.arange(n)
        first = v.argmax(axis=1)
        rest = v.copy()
        rest[rows, first] = False
        second = rest.argmax(axis=1)
        two = np.abs((f[rows, first] - f[rows, second]) / 2)
        mean = total / np.where(count > 0, count, 1)
        squares = np.zeros(n)
        for j in range(f.shape[1]):
            squares += np.where(v[:, j], (f[:, j] - mean) * (f[:, j] - mean), 0.0)
        many = np.sqrt(squares / np.where(count > 0, count, 1))
        std = np.where(count == 2, two, np.where(count > 2, many, 0.0))
    return ((1 - std) * MAX_NODE_SCORE).astype(np.int64)


def score_bounds(scores: I64) -> tuple[int, int]:
    """(min, max) of a non-empty score array: the runtime's range check of every Score."""
    return int(scores.min()), int(scores.max())


# -- the kernel table ---------------------------------------------------------------------

NATIVE_MODULE: Final = "kube.native._scheduler"


@dataclass(frozen=True)
class Resolved:
    name: str
    implementation: str  # "native" or "numpy"
    reason: str | None


def _kernel(name: str, numpy_version: Callable[..., Any]) -> Kernel[Any]:
    return Kernel(name, "cython", numpy_version, NATIVE_MODULE, name)


KERNELS: Final[tuple[Kernel[Any], ...]] = (
    _kernel("fit_filter", fit_filter),
    _kernel("taint_filter", taint_filter),
    _kernel("count_untolerated", count_untolerated),
    _kernel("label_requirement", label_requirement),
    _kernel("ports_filter", ports_filter),
    _kernel("least_allocated", least_allocated),
    _kernel("most_allocated", most_allocated),
    _kernel("balanced_allocation", balanced_allocation),
    _kernel("score_bounds", score_bounds),
)
_STATUS: dict[str, Resolved] = {}


def disabled(no_native: str | None, no_native_scheduler: str | None) -> frozenset[str]:
    """The kernels sent to numpy: all with KUBE_NO_NATIVE=1, or those KUBE_NO_NATIVE_SCHEDULER
    names (comma-separated; an unknown name raises KeyError listing the known ones)."""
    if (no_native or "").strip() == "1":
        return frozenset(k.name for k in KERNELS)
    known = {k.name for k in KERNELS}
    names = {n.strip() for n in (no_native_scheduler or "").split(",") if n.strip()}
    unknown = names - known
    if unknown:
        raise KeyError(f"unknown scheduler kernel(s) {sorted(unknown)}; known: {sorted(known)}")
    return frozenset(names)


_DISABLED: Final = disabled(
    os.environ.get("KUBE_NO_NATIVE"), os.environ.get("KUBE_NO_NATIVE_SCHEDULER")
)


def resolve(k: Kernel[Any]) -> Callable[..., Any]:
    """The compiled kernel if it is built and not disabled, else the numpy one."""
    if k.name in _DISABLED:
        _STATUS[k.name] = Resolved(k.name, "numpy", "KUBE_NO_NATIVE(_SCHEDULER) set")
        reference: Callable[..., Any] = k.reference
        return reference
    try:
        native = k.load_native()
    except (ImportError, AttributeError) as err:
        _STATUS[k.name] = Resolved(k.name, "numpy", f"not built: {err}")
        fallback: Callable[..., Any] = k.reference
        return fallback
    _STATUS[k.name] = Resolved(k.name, "native", None)
    compiled: Callable[..., Any] = native
    return compiled


def kernel_status() -> list[Resolved]:
    return [_STATUS[k.name] for k in KERNELS]


_BY_NAME: Final = {k.name: resolve(k) for k in KERNELS}


def numpy_version(name: str) -> Callable[..., Any]:
    """The numpy implementation of a kernel, whatever was resolved (tests, benchmarks)."""
    found: Callable[..., Any] = next(k.reference for k in KERNELS if k.name == name)
    return found


def get(name: str) -> Callable[..., Any]:
    """The resolved kernel called `name` (KeyError naming the known ones)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown scheduler kernel {name!r}; known: {sorted(_BY_NAME)}") from None
