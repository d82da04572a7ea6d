"""Does a pod's node selection admit a node: `nodeSelector` and required node affinity.

Upstream's component-helpers/scheduling/corev1/nodeaffinity, shared by the DaemonSet
controller (which nodes get a daemon pod) and the scheduler's NodeAffinity plugin:

- `spec.nodeSelector`: every label must be present with the same value;
- `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`: the terms are ORed; the
  requirements of one term are ANDed; a term with no requirements matches no node, and so
  does an empty list of terms. `matchExpressions` test labels with In, NotIn, Exists,
  DoesNotExist, Gt and Lt (integers); `matchFields` test fields, of which only
  `metadata.name` is supported (In and NotIn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.api.meta import Object


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def requirement_matches(req: Mapping[str, Any], values_of: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement against a map (labels, or fields by name)."""
    key = str(req.get("key") or "")
    operator = req.get("operator")
    values = [str(v) for v in req.get("values") or []]
    present = key in values_of
    value = values_of.get(key, "")
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        have, bound = _int(value), _int(values[0])
        if have is None or bound is None:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def term_matches(term: Mapping[str, Any], node: Object) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    meta = node.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    node_fields = {"metadata.name": str(meta.get("name") or "")}
    return all(requirement_matches(r, labels) for r in expressions) and all(
        r.get("key") == "metadata.name" and requirement_matches(r, node_fields) for r in fields
    )


def node_selector_matches(selector: Mapping[str, Any] | None, node: Object) -> bool:
    """A NodeSelector (ORed terms) against a node; None (no selector) admits every node."""
    if selector is None:
        return True
    return any(term_matches(t, node) for t in selector.get("nodeSelectorTerms") or [])


def required_node_affinity(pod: Object) -> Mapping[str, Any] | None:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return required if isinstance(required, Mapping) else None


def pod_admits_node(pod: Object, node: Object) -> bool:
    """Whether the pod's nodeSelector and required node affinity both admit the node."""
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    return node_selector_matches(required_node_affinity(pod), node)
