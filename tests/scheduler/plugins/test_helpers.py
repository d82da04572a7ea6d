"""NormalizeScore helpers: the array form gives exactly upstream's DefaultNormalizeScore."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.plugins.helpers import default_normalize_score, default_normalize_scores
from kube.scheduler.plugins.nodeaffinity import NodeAffinity
from kube.scheduler.plugins.tainttoleration import TaintToleration


@given(st.lists(st.integers(0, 10_000), max_size=50), st.booleans())
def test_the_array_form_equals_the_list_form(scores: list[int], reverse: bool) -> None:
    expected = list(scores)
    default_normalize_score(100, reverse, expected)
    got = default_normalize_scores(100, reverse, np.asarray(scores, np.int64))
    assert got.tolist() == expected


def test_upstream_cases() -> None:
    # scaled to 0..100 by the highest score, reversed or not; all-zero scores
    scores = np.array([10, 20, 30, 40, 50], np.int64)
    assert default_normalize_scores(100, False, scores).tolist() == [20, 40, 60, 80, 100]
    assert default_normalize_scores(100, True, scores).tolist() == [80, 60, 40, 20, 0]
    zeros = np.zeros(3, np.int64)
    assert default_normalize_scores(100, False, zeros).tolist() == [0, 0, 0]
    assert default_normalize_scores(100, True, zeros).tolist() == [100, 100, 100]


def test_plugins_normalize_arrays_as_they_normalize_lists() -> None:
    raw = [0, 3, 1, 7]
    for plugin in (TaintToleration(), NodeAffinity()):
        as_list = list(raw)
        plugin.normalize_scores(CycleState(), {}, as_list)
        as_array = plugin.normalize_score_nodes(CycleState(), {}, np.asarray(raw, np.int64))
        assert as_array.tolist() == as_list, plugin.NAME
