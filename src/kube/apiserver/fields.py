"""Field selectors: which fields each kind can be selected on, and the matching predicate.

Upstream supports `metadata.name` and `metadata.namespace` on every kind plus a short,
per-kind list (pkg/registry/*/strategy.go `...ToSelectableFields`). Any other field is
a 400 `field label not supported: <field>`, as upstream answers.
"""

from __future__ import annotations

from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.selectors import Requirement

COMMON = ("metadata.name", "metadata.namespace")

SELECTABLE: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "ReplicaSet": ("status.replicas",),
    "ReplicationController": ("status.replicas",),
    "Job": ("status.successful",),
    "CertificateSigningRequest": ("spec.signerName",),
}


# Kinds whose field label conversion (upstream's core/v1 conversion.go) leaves out
# `metadata.namespace`: selecting on it is a 400 there, as for any other unknown field.
NO_NAMESPACE_FIELD = ("Node", "Namespace")

# Selectable fields read from another path than their name says.
_PATHS = {
    "source": "source.component",  # Event
    "status.successful": "status.succeeded",  # Job
}
# Upstream formats these from non-pointer Go fields, so an absent value reads as the zero value.
_DEFAULTS = {
    "spec.hostNetwork": "false",  # Pod
    "spec.unschedulable": "false",  # Node
    "status.replicas": "0",  # ReplicaSet, ReplicationController
    "status.successful": "0",  # Job
}


def _lookup(obj: Object, field: str) -> str:
    node: Any = obj
    for part in _PATHS.get(field, field).split("."):
        if not isinstance(node, dict):
            node = None
            break
        node = node.get(part)
    if node is None or node == "":
        return _DEFAULTS.get(field, "")
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def selectable_fields(kind: str) -> tuple[str, ...]:
    common = ("metadata.name",) if kind in NO_NAMESPACE_FIELD else COMMON
    return common + SELECTABLE.get(kind, ())


def check_selectable(kind: str, reqs: list[Requirement]) -> None:
    """400 `field label not supported` for a field `kind` cannot be selected on."""
    allowed = selectable_fields(kind)
    for field, _, _ in reqs:
        if field not in allowed:
            raise errors.bad_request(f"field label not supported: {field}")


def field_values(obj: Object, paths: list[str]) -> dict[str, str]:
    """The values of `paths` in `obj`, as strings (missing fields are empty)."""
    return {path: _lookup(obj, path) for path in paths}
