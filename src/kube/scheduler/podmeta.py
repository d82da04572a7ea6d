"""What the scheduler reads from a pod's metadata: labels, namespace, termination, selectors.

Shared by the plugins and by what the node matrix keeps (pod counts, affinity terms).
"""

from __future__ import annotations


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
