"""Taints and tolerations: upstream's `Toleration.ToleratesTaint`, shared by the components.

A toleration matches a taint when its effect is empty or the same, and its key is empty with
operator `Exists` (tolerates everything), or the keys are equal and either the operator is
`Exists` or the values are equal (`Equal`, the default). The node lifecycle and taint
eviction controllers and the scheduler's TaintToleration plugin all decide with this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated_by_any(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)
