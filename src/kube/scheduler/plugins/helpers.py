"""Small pieces several plugins share (upstream's plugins/helper)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_NODE_SCORE = 100


def default_normalize_score(max_priority: int, reverse: bool, scores: list[int]) -> None:
    """upstream DefaultNormalizeScore: scale to [0, max_priority], optionally reversed."""
    max_count = max(scores, default=0)
    if max_count == 0:
        if reverse:
            scores[:] = [max_priority] * len(scores)
        return
    for i, score in enumerate(scores):
        value = max_priority * score // max_count
        scores[i] = max_priority - value if reverse else value


def default_normalize_scores(
    max_priority: int, reverse: bool, scores: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """`default_normalize_score` over an array (the same integer arithmetic)."""
    max_count = int(scores.max()) if len(scores) else 0
    if max_count == 0:
        return np.full(len(scores), max_priority, np.int64) if reverse else scores
    values = max_priority * scores // max_count
    return max_priority - values if reverse else values


def state_key(point: str, name: str) -> str:
    """The cycle-state key a plugin keeps its `point` data under ("PreFilter" + NAME)."""
    return point + name
