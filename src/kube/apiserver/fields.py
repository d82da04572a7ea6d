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


def _lookup(obj: Object, path: str) -> str:
    if path == "source":  # events: source.component
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def check_selectable(kind: str, reqs: list[Requirement]) -> None:
    """400 `field label not supported` for a field `kind` cannot be selected on."""
    allowed = COMMON + SELECTABLE.get(kind, ())
    for field, _, _ in reqs:
        if field not in allowed:
            raise errors.bad_request(f"field label not supported: {field}")


def field_values(obj: Object, paths: list[str]) -> dict[str, str]:
    """The values of `paths` in `obj`, as strings (missing fields are empty)."""
    return {path: _lookup(obj, path) for path in paths}
