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


def selector_matches(selector: object, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against labels; None or an invalid selector matches nothing."""
    from kube.api.selectors import SelectorError, from_label_selector
    from kube.native import match_labels

    if not isinstance(selector, dict):
        return False
    try:
        requirements = from_label_selector(selector)
    except SelectorError:
        return False
    return bool(match_labels(requirements, [labels]))


def pod_labels(pod: dict[str, object]) -> dict[str, str]:
    meta = pod.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in (labels or {}).items()} if isinstance(labels, dict) else {}


def pod_namespace(pod: dict[str, object]) -> str:
    meta = pod.get("metadata")
    return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""


def is_terminating(pod: dict[str, object]) -> bool:
    meta = pod.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("deletionTimestamp"))
