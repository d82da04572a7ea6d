"""Pod (anti-)affinity terms as the scheduler reads them, parsed once per pod object.

A term selects pods (`labelSelector`, plus `matchLabelKeys`/`mismatchLabelKeys` values of
the pod that carries it) in namespaces (`namespaces`, `namespaceSelector`; neither: the pod's
own) and names a `topologyKey`. InterPodAffinity reads the incoming pod's terms and every
existing pod's; the node matrix's term counts (kube.scheduler.termcounts) read the existing
pods' as they are placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from kube.api.meta import Object
from kube.api.selectors import SelectorError, from_label_selector
from kube.native import match_labels
from kube.scheduler.podmeta import pod_labels, pod_namespace, selector_matches


@dataclass
class Term:
    topology_key: str
    selector: dict[str, Any] | None
    namespaces: set[str] | None  # None: every namespace
    namespace_selector: dict[str, Any] | None
    weight: int = 0
    # The selector parsed once (None: matches nothing), not on every pod it is tried on.
    requirements: list[Any] | None = field(init=False, repr=False, compare=False)

    # What `matches` depends on, as one hashable value: pods' terms that are written alike
    # (every replica of a Deployment) are tried once per cycle against the incoming pod.
    identity: str = field(init=False, repr=False, compare=False)
    # The selector as canonical JSON: with a namespace, the node matrix's pod-count key.
    selector_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.identity = repr(
            (
                self.selector,
                sorted(self.namespaces) if self.namespaces is not None else None,
                self.namespace_selector,
            )
        )
        try:
            parsed = from_label_selector(self.selector) if self.selector is not None else None
        except SelectorError:
            parsed = None
        self.requirements = parsed
        self.selector_key = orjson.dumps(self.selector, option=orjson.OPT_SORT_KEYS).decode()

    def matches(self, pod: Object, namespace_labels: Any) -> bool:
        if not self.in_namespace(pod_namespace(pod), namespace_labels):
            return False
        if self.requirements is None:
            return False
        return bool(match_labels(self.requirements, [pod_labels(pod)]))

    def in_namespace(self, ns: str, namespace_labels: Any) -> bool:
        """Whether pods of namespace `ns` are in the term's namespaces (or selected ones)."""
        in_ns = self.namespaces is not None and ns in self.namespaces
        if not in_ns and self.namespace_selector is not None:
            labels = namespace_labels(ns)
            in_ns = self.namespace_selector == {} or (
                labels is not None and selector_matches(self.namespace_selector, labels)
            )
        if self.namespaces is None and self.namespace_selector is None:
            in_ns = True
        return in_ns


# `terms` of the pods seen lately, by object identity (a changed pod is a new object in the
# cache): existing pods' terms are read at every cycle, and parsing them again was most of
# PreFilter's time. Entries hold their pod, so an id is never reused while it is cached.
_TERMS_CACHE: dict[tuple[int, str, str], tuple[Object, list[Term]]] = {}
_TERMS_CACHE_SIZE = 100_000


def terms(pod: Object, kind: str, mode: str) -> list[Term]:
    """The pod's `kind` (podAffinity, podAntiAffinity) terms of `mode` (required, preferred)."""
    key = (id(pod), kind, mode)
    hit = _TERMS_CACHE.get(key)
    if hit is not None and hit[0] is pod:
        return hit[1]
    parsed = _parse_terms(pod, kind, mode)
    if len(_TERMS_CACHE) >= _TERMS_CACHE_SIZE:
        _TERMS_CACHE.clear()
    _TERMS_CACHE[key] = (pod, parsed)
    return parsed


def _parse_terms(pod: Object, kind: str, mode: str) -> list[Term]:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    raw = affinity.get(f"{mode}DuringSchedulingIgnoredDuringExecution") or []
    labels = pod_labels(pod)
    out = []
    for entry in raw:
        weight = 0
        term = entry
        if mode == "preferred":
            weight = int(entry.get("weight") or 0)
            term = entry.get("podAffinityTerm") or {}
        selector = term.get("labelSelector")
        if selector is not None:
            selector = dict(selector)
            extra = [
                {"key": k, "operator": "In", "values": [labels[k]]}
                for k in term.get("matchLabelKeys") or []
                if k in labels
            ] + [
                {"key": k, "operator": "NotIn", "values": [labels[k]]}
                for k in term.get("mismatchLabelKeys") or []
                if k in labels
            ]
            if extra:
                selector["matchExpressions"] = [*(selector.get("matchExpressions") or []), *extra]
        names = set(term.get("namespaces") or [])
        ns_selector = term.get("namespaceSelector")
        if not names and ns_selector is None:
            names = {pod_namespace(pod)}
        out.append(
            Term(
                topology_key=str(term.get("topologyKey") or ""),
                selector=selector,
                namespaces=names,
                namespace_selector=ns_selector,
                weight=weight,
            )
        )
    return out
