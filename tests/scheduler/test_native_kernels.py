"""The compiled scheduler kernels (kube.native._scheduler) against their numpy versions.

tests/scheduler/test_kernels.py checks the resolved kernels (compiled when built) against the
per-node references through the plugins; this file checks the two vectorised implementations
against each other directly on random matrices, and fails when the compiled module should be
there and is not (KUBE_REQUIRE_NATIVE=1, as `make test` sets).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kube.scheduler import kernels


def native_module() -> ModuleType:
    try:
        return importlib.import_module(kernels.NATIVE_MODULE)
    except ImportError as err:
        if os.environ.get("KUBE_REQUIRE_NATIVE", "").strip() == "1":
            pytest.fail(f"{kernels.NATIVE_MODULE} is not built (run `make setup`): {err}")
        pytest.skip(f"{kernels.NATIVE_MODULE} is not built")


def test_every_kernel_resolved_to_native_when_required() -> None:
    native_module()
    if os.environ.get("KUBE_NO_NATIVE") or os.environ.get("KUBE_NO_NATIVE_SCHEDULER"):
        pytest.skip("native kernels disabled by the environment")
    fallen = [s for s in kernels.kernel_status() if s.implementation != "native"]
    assert fallen == []


def test_disabling_by_name_and_unknown_names() -> None:
    assert kernels.disabled("1", None) == {k.name for k in kernels.KERNELS}
    assert kernels.disabled(None, "fit_filter, ports_filter") == {"fit_filter", "ports_filter"}
    with pytest.raises(KeyError, match="unknown scheduler kernel"):
        kernels.disabled(None, "fit_filtre")


rows = st.integers(1, 12)
values = st.integers(0, 2**40)


@st.composite
def resource_matrices(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n, r = draw(rows), draw(st.integers(1, 6))
    allocatable = draw(hnp.arrays(np.int64, (n, r), elements=st.integers(0, 2**40)))
    used = draw(hnp.arrays(np.int64, (n, r), elements=st.integers(0, 2**40)))
    request = draw(hnp.arrays(np.int64, r, elements=st.integers(0, 2**40)))
    cols = np.array(sorted(draw(st.sets(st.integers(0, r - 1), max_size=r))), np.int64)
    weights = draw(hnp.arrays(np.int64, len(cols), elements=st.integers(1, 10)))
    pods = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 10)))
    return allocatable, used, request, cols, weights, pods


@settings(max_examples=200, deadline=None)
@given(resource_matrices())
def test_resource_kernels_agree(m: tuple[np.ndarray, ...]) -> None:
    native = native_module()
    allocatable, used, request, cols, weights, pods = m
    for name, args in (
        ("fit_filter", (allocatable, used, pods, request, cols)),
        ("least_allocated", (allocatable, used, request, cols, weights)),
        ("most_allocated", (allocatable, used, request, cols, weights)),
        ("balanced_allocation", (allocatable, used, request, cols)),
    ):
        expected = kernels.numpy_version(name)(*args)
        got = getattr(native, name)(*args)
        assert got.tolist() == expected.tolist(), name


@settings(max_examples=200, deadline=None)
@given(resource_matrices(), st.data())
def test_score_kernels_of_given_rows_are_those_rows_scores(
    m: tuple[np.ndarray, ...], data: st.DataObject
) -> None:
    """`rows=` (the feasible rows, in any order, repeated or not) scores exactly those rows."""
    native = native_module()
    allocatable, used, request, cols, weights, _pods = m
    picked = np.array(
        data.draw(st.lists(st.integers(0, len(allocatable) - 1), max_size=8)), np.int64
    )
    for name, args in (
        ("least_allocated", (allocatable, used, request, cols, weights)),
        ("most_allocated", (allocatable, used, request, cols, weights)),
        ("balanced_allocation", (allocatable, used, request, cols)),
    ):
        whole = kernels.numpy_version(name)(*args)
        assert kernels.numpy_version(name)(*args, picked).tolist() == whole[picked].tolist(), name
        assert getattr(native, name)(*args, picked).tolist() == whole[picked].tolist(), name


@given(hnp.arrays(np.int64, st.integers(1, 20), elements=st.integers(-(2**62), 2**62)))
def test_score_bounds_agree(scores: np.ndarray) -> None:
    native = native_module()
    expected = (int(scores.min()), int(scores.max()))
    assert kernels.numpy_version("score_bounds")(scores) == expected
    assert native.score_bounds(scores) == expected


@st.composite
def id_matrices(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n, width, ids = draw(rows), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    matrix = draw(hnp.arrays(np.int32, (n, width), elements=st.integers(-1, ids - 1)))
    flags = draw(hnp.arrays(np.bool_, ids))
    return matrix, flags


@settings(max_examples=200, deadline=None)
@given(id_matrices(), st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt"]))
def test_id_kernels_agree(m: tuple[np.ndarray, np.ndarray], op: str) -> None:
    native = native_module()
    matrix, flags = m
    for name in ("taint_filter", "count_untolerated"):
        assert getattr(native, name)(matrix, flags).tolist() == (
            kernels.numpy_version(name)(matrix, flags).tolist()
        ), name
    column = np.ascontiguousarray(matrix[:, 0])
    ids = np.flatnonzero(flags).astype(np.int32)
    lookup = np.append(flags, True)
    assert native.label_requirement(column, op, ids, lookup).tolist() == (
        kernels.numpy_version("label_requirement")(column, op, ids, lookup).tolist()
    )
    counts = matrix.astype(np.int32) + 1
    conflicting = np.flatnonzero(flags).astype(np.int64) % counts.shape[1]
    assert native.ports_filter(counts, conflicting).tolist() == (
        kernels.numpy_version("ports_filter")(counts, conflicting).tolist()
    )
