"""Small pieces several plugins share (upstream's plugins/helper)."""

from __future__ import annotations

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


def state_key(point: str, name: str) -> str:
    """The cycle-state key a plugin keeps its `point` data under ("PreFilter" + NAME)."""
    return point + name
