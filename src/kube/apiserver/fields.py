"""Field selectors: which fields each kind can be selected on, and the matching predicate.

Upstream supports `metadata.name` and `metadata.namespace` on every kind plus a short,
per-kind list (pkg/registry/*/strategy.go `...ToSelectableFields`, accepted by the kind's
field label conversion in pkg/apis/*/v1/conversion.go). Any other field is a 400: `field
label not supported: <field>` from kinds with their own conversion, upstream's generic
`"<field>" is not a known field selector: ...` from the others.
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
        "status.podIPs",
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
    "Service": ("spec.clusterIP", "spec.type"),
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

# Labels a kind's conversion accepts under another name (old clients' spelling).
ALIASES: dict[str, dict[str, str]] = {"Pod": {"spec.host": "spec.nodeName"}}
# Labels a kind's conversion accepts but its selectable field set never holds: such a
# requirement reads the empty value (upstream's PodToSelectableFields sets no status.podIPs).
_UNSET = ("status.podIPs",)

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
    if field in _UNSET:
        return ""
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


def check_selectable(kind: str, reqs: list[Requirement]) -> list[Requirement]:
    """The requirements with aliases resolved; 400 for a field `kind` cannot be selected on.

    As upstream's field label conversion: a kind with its own conversion function answers
    `field label not supported: <field>`; any other kind gets the generic
    `"<field>" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    """
    allowed = selectable_fields(kind)
    aliases = ALIASES.get(kind, {})
    out: list[Requirement] = []
    for field, op, values in reqs:
        field = aliases.get(field, field)
        if field not in allowed:
            if kind in SELECTABLE or kind in NO_NAMESPACE_FIELD:
                raise errors.bad_request(f"field label not supported: {field}")
            raise errors.bad_request(
                f"{errors.go_quote(field)} is not a known field selector: only "
                '"metadata.name", "metadata.namespace"'
            )
        out.append((field, op, values))
    return out


def field_values(obj: Object, paths: list[str]) -> dict[str, str]:
    """The values of `paths` in `obj`, as strings (missing fields are empty)."""
    return {path: _lookup(obj, path) for path in paths}
