# cython: language_level=3, boundscheck=False, wraparound=False
"""The PackByLabel kernel: one pass over the rows to score, reading one label column.

Typed memoryviews over the node matrix's numpy columns (buffer protocol), so the kernel needs
no numpy headers: `labels` is the matrix's int32 [rows, label keys] array of interned value
ids (-1 where a node lacks the key), `rows` the int64 rows to score, `out` the int64 scores.
"""

from libc.stdint cimport int32_t, int64_t


def score_rows(
    const int32_t[:, :] labels,
    Py_ssize_t col,
    int32_t value,
    const int64_t[:] rows,
    int64_t[:] out,
    int64_t hit,
    int64_t miss,
):
    """out[i] = hit where node rows[i] has label value id `value` in column `col`, else miss."""
    cdef Py_ssize_t i, n = rows.shape[0]
    if out.shape[0] != n:
        raise ValueError("out must have one slot per row")
    with nogil:
        for i in range(n):
            out[i] = hit if labels[rows[i], col] == value else miss
