# cython: boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The scheduler's Filter/Score kernels over the node matrix, compiled: `kube.native._scheduler`.

Same signatures and results as the numpy kernels in `kube/scheduler/kernels.py` (read them for
the semantics; their own reference is each plugin's per-node `filter`/`score`); the scheduler's
kernel table picks this module when it is built. Each kernel is one C loop over the node rows
through typed memoryviews, fusing what the numpy version does in several passes, with the
same integer arithmetic (all operands non-negative, so C and floor division agree) and the
same floating-point operations in the same order (BalancedAllocation). The Score kernels take
the feasible rows themselves (`rows`) rather than a copy of the matrix gathered at those rows,
which cost more than the kernel at 500 rows.
"""

import numpy as np

from libc.math cimport fabs, sqrt
from libc.stdint cimport int32_t, int64_t


def fit_filter(int64_t[:, :] allocatable, int64_t[:, :] requested, int64_t[:] pod_count,
               int64_t[:] request, int64_t[:] cols):
    cdef Py_ssize_t n = allocatable.shape[0], i, j, c
    cdef Py_ssize_t k = cols.shape[0]
    out = np.zeros(n, np.int64)
    cdef int64_t[:] codes = out
    cdef int64_t code
    for i in range(n):
        code = 1 if pod_count[i] + 1 > allocatable[i, 0] else 0
        for j in range(k):
            c = cols[j]
            if allocatable[i, c] - requested[i, c] < request[c]:
                code |= (<int64_t>1) << c
        codes[i] = code
    return out


def taint_filter(int32_t[:, :] taint_ids, tolerated):
    cdef unsigned char[:] ok = np.ascontiguousarray(tolerated, dtype=np.uint8)
    cdef Py_ssize_t n = taint_ids.shape[0], width = taint_ids.shape[1], i, j
    cdef int32_t t
    out = np.zeros(n, np.int64)
    cdef int64_t[:] codes = out
    for i in range(n):
        for j in range(width):
            t = taint_ids[i, j]
            if t >= 0 and not ok[t]:
                codes[i] = t + 1
                break
    return out


def count_untolerated(int32_t[:, :] taint_ids, counted):
    cdef unsigned char[:] flag = np.ascontiguousarray(counted, dtype=np.uint8)
    cdef Py_ssize_t n = taint_ids.shape[0], width = taint_ids.shape[1], i, j
    cdef int32_t t
    out = np.zeros(n, np.int64)
    cdef int64_t[:] counts = out
    for i in range(n):
        for j in range(width):
            t = taint_ids[i, j]
            if t >= 0 and flag[t]:
                counts[i] += 1
    return out


def label_requirement(int32_t[:] column, str op, int32_t[:] ids, lookup):
    cdef Py_ssize_t n = column.shape[0], m = ids.shape[0], i, j
    cdef int32_t v
    cdef int kind = {"In": 0, "NotIn": 1, "Exists": 2, "DoesNotExist": 3}.get(op, 4)
    cdef unsigned char[:] table = np.ascontiguousarray(lookup, dtype=np.uint8)
    cdef Py_ssize_t last = table.shape[0] - 1
    cdef bint found
    out = np.zeros(n, np.bool_)
    cdef unsigned char[:] mask = out.view(np.uint8)
    for i in range(n):
        v = column[i]
        if kind == 2:
            mask[i] = v >= 0
        elif kind == 3:
            mask[i] = v < 0
        elif kind == 4:
            mask[i] = table[last] if v < 0 else table[v]
        else:
            found = False
            if v >= 0:
                for j in range(m):
                    if ids[j] == v:
                        found = True
                        break
            mask[i] = found if kind == 0 else not found
    return out


def ports_filter(int32_t[:, :] port_counts, int64_t[:] conflicting):
    cdef Py_ssize_t n = port_counts.shape[0], m = conflicting.shape[0], i, j
    out = np.zeros(n, np.int64)
    cdef int64_t[:] codes = out
    for i in range(n):
        for j in range(m):
            if port_counts[i, conflicting[j]] > 0:
                codes[i] = 1
                break
    return out


cdef object _allocated(int64_t[:, :] allocatable, int64_t[:, :] used, int64_t[:] request,
                       int64_t[:] cols, int64_t[:] weights, bint most, int64_t[:] rows):
    cdef bint picked = rows is not None
    cdef Py_ssize_t n = rows.shape[0] if picked else allocatable.shape[0]
    cdef Py_ssize_t k = cols.shape[0], i, r, j, c
    cdef int64_t total, weight_sum, alloc, want, score
    out = np.zeros(n, np.int64)
    cdef int64_t[:] scores = out
    for i in range(n):
        r = rows[i] if picked else i
        total = 0
        weight_sum = 0
        for j in range(k):
            c = cols[j]
            alloc = allocatable[r, c]
            if alloc == 0:
                continue
            want = used[r, c] + request[c]
            if most:
                if want > alloc:
                    want = alloc
                score = want * 100 // alloc
            else:
                score = 0 if want > alloc else (alloc - want) * 100 // alloc
            total += score * weights[j]
            weight_sum += weights[j]
        scores[i] = 0 if weight_sum == 0 else total // weight_sum
    return out


def least_allocated(int64_t[:, :] allocatable, int64_t[:, :] used, int64_t[:] request,
                    int64_t[:] cols, int64_t[:] weights, int64_t[:] rows=None):
    return _allocated(allocatable, used, request, cols, weights, False, rows)


def most_allocated(int64_t[:, :] allocatable, int64_t[:, :] used, int64_t[:] request,
                   int64_t[:] cols, int64_t[:] weights, int64_t[:] rows=None):
    return _allocated(allocatable, used, request, cols, weights, True, rows)


def balanced_allocation(int64_t[:, :] allocatable, int64_t[:, :] used, int64_t[:] request,
                        int64_t[:] cols, int64_t[:] rows=None):
    cdef bint picked = rows is not None
    cdef Py_ssize_t n = rows.shape[0] if picked else allocatable.shape[0]
    cdef Py_ssize_t k = cols.shape[0], i, r, j, c, count
    cdef double fraction, total, mean, squares, std, first, second
    cdef int64_t alloc
    out = np.zeros(n, np.int64)
    cdef int64_t[:] scores = out
    fractions_array = np.zeros(max(k, 1), np.float64)
    cdef double[:] fractions = fractions_array
    for i in range(n):
        r = rows[i] if picked else i
        total = 0.0
        count = 0
        for j in range(k):
            c = cols[j]
            alloc = allocatable[r, c]
            if alloc == 0:
                continue
            fraction = <double>(used[r, c] + request[c]) / <double>alloc
            if fraction > 1.0:
                fraction = 1.0
            total += fraction
            fractions[count] = fraction
            count += 1
        std = 0.0
        if count == 2:
            std = fabs((fractions[0] - fractions[1]) / 2)
        elif count > 2:
            mean = total / count
            squares = 0.0
            for j in range(count):
                squares += (fractions[j] - mean) * (fractions[j] - mean)
            std = sqrt(squares / count)
        scores[i] = <int64_t>((1 - std) * 100)
    return out


def score_bounds(int64_t[:] scores):
    """(min, max) of a non-empty score array in one pass (the runtime's range check)."""
    cdef Py_ssize_t n = scores.shape[0], i
    cdef int64_t low = scores[0], high = scores[0], v
    for i in range(1, n):
        v = scores[i]
        if v < low:
            low = v
        elif v > high:
            high = v
    return low, high
