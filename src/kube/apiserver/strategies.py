"""Per-kind behaviour of the generic store: what create resets, and name validation.

Upstream keeps this in each kind's `strategy.go` (PrepareForCreate, Validate...). Here a
kind gets a `Strategy` with hooks; kinds without an entry get the shared rules only (name
format, status reset on create when the kind has a status subresource).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kube.api.errors import Cause
from kube.api.meta import Object, metadata
from kube.apiserver.store import Strategy

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

# Kinds with a status subresource whose objects upstream gives no `metadata.generation`.
NO_GENERATION = {
    "Namespace",
    "Node",
    "Service",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ResourceQuota",
}

# Kinds whose names must be DNS labels (upstream: ValidateNamespaceName, ValidateServiceName...).
LABEL_NAMED = {"Namespace", "Service", "ReplicationController"}


def _name_causes(kind: str, obj: Object) -> list[Cause]:
    name = str(metadata(obj).get("name") or "")
    if not name:
        return []
    label = kind in LABEL_NAMED
    pattern, message, limit = (
        (DNS1123_LABEL, LABEL_MESSAGE, 63) if label else (DNS1123_SUBDOMAIN, SUBDOMAIN_MESSAGE, 253)
    )
    causes = []
    if len(name) > limit:
        causes.append(
            Cause(
                "FieldValueTooLong",
                f'Invalid value: "{name}": must be no more than {limit} characters',
                "metadata.name",
            )
        )
    if not pattern.match(name):
        causes.append(
            Cause("FieldValueInvalid", f'Invalid value: "{name}": {message}', "metadata.name")
        )
    return causes


def _namespace_create(obj: Object) -> None:
    name = str(metadata(obj).get("name") or "")
    obj["status"] = {"phase": "Active"}
    spec = obj.setdefault("spec", {})
    spec.setdefault("finalizers", ["kubernetes"])
    if name:
        metadata(obj).setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def _namespace_update(new: Object, old: Object) -> None:
    name = str(metadata(new).get("name") or "")
    metadata(new).setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def _pod_create(obj: Object) -> None:
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}


def _qos_class(pod: Object) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' requests and limits."""
    containers = list((pod.get("spec") or {}).get("containers") or [])
    containers += list((pod.get("spec") or {}).get("initContainers") or [])
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        resources = c.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for resource in ("cpu", "memory"):
            if (
                resource not in limits
                or requests.get(resource, limits[resource]) != limits[resource]
            ):
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if any_set else "BestEffort"


def strategy_for(kind: str, has_status: bool) -> Strategy:
    def validate(obj: Object, old: Object | None) -> list[Cause]:
        return _name_causes(kind, obj) if old is None else []

    prepare_create: Callable[[Object], None] | None = {
        "Namespace": _namespace_create,
        "Pod": _pod_create,
    }.get(kind)
    prepare_update: Callable[[Object, Object], None] | None = {
        "Namespace": _namespace_update,
    }.get(kind)
    return Strategy(
        has_status=has_status,
        tracks_generation=has_status and kind not in NO_GENERATION,
        prepare_create=prepare_create,
        prepare_update=prepare_update,
        validate=validate,
    )
