"""Per-kind behaviour of the generic store: what create resets, and name validation.

Upstream keeps this in each kind's `strategy.go` (PrepareForCreate, Validate...). Here a
kind gets a `Strategy` with hooks; kinds without an entry get the shared rules only (name
format, status reset on create when the kind has a status subresource).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from kube.api.errors import Cause, go_quote
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

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# How each kind's names are validated (upstream's ValidateNamespaceName, ValidateServiceName,
# ...); every other kind's names are DNS subdomains.
NAME_RULES: dict[str, tuple[re.Pattern[str], str, int]] = {
    "Namespace": (DNS1123_LABEL, LABEL_MESSAGE, 63),
    "Service": (DNS1035_LABEL, DNS1035_MESSAGE, 63),
}
SUBDOMAIN_RULE = (DNS1123_SUBDOMAIN, SUBDOMAIN_MESSAGE, 253)


def _name_causes(kind: str, obj: Object) -> list[Cause]:
    """upstream's ValidateObjectMeta name check: one FieldValueInvalid per broken rule."""
    name = str(metadata(obj).get("name") or "")
    if not name:
        return []
    pattern, message, limit = NAME_RULES.get(kind, SUBDOMAIN_RULE)
    causes = []
    if len(name) > limit:
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {go_quote(name)}: must be no more than {limit} characters",
                "metadata.name",
            )
        )
    # fullmatch: `$` would also accept a trailing newline, which Go's regexp does not.
    if not pattern.fullmatch(name):
        invalid = f"Invalid value: {go_quote(name)}: {message}"
        causes.append(Cause("FieldValueInvalid", invalid, "metadata.name"))
    return causes


def _namespace_create(obj: Object) -> None:
    """Status Active, the `kubernetes` finalizer and the `kubernetes.io/metadata.name` label."""
    name = str(metadata(obj).get("name") or "")
    obj["status"] = {"phase": "Active"}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    finalizers = list(spec.get("finalizers") or [])
    if "kubernetes" not in finalizers:
        finalizers.append("kubernetes")
    spec["finalizers"] = finalizers
    if name:
        metadata(obj).setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def _namespace_update(new: Object, old: Object) -> None:
    name = str(metadata(new).get("name") or "")
    metadata(new).setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def _pod_create(obj: Object) -> None:
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}


_QUANTITY = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eE][+-]?[0-9]+|[A-Za-z]*)")
_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(1024**i) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)},
}
QOS_RESOURCES = ("cpu", "memory")


def parse_quantity(text: object) -> Decimal | None:
    """A resource quantity (`500m`, `1Gi`, `1e3`) as a number; None if it does not parse."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None:
        return None
    number, suffix = match.groups()
    if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
        return Decimal(number) * Decimal(10) ** int(suffix[1:])
    if suffix not in _SUFFIXES:
        return None
    return Decimal(number) * _SUFFIXES[suffix]


def _positive(resources: dict[str, object]) -> dict[str, Decimal]:
    """The cpu and memory quantities above zero (the only ones QoS looks at)."""
    out = {}
    for name in QOS_RESOURCES:
        value = parse_quantity(resources[name]) if name in resources else None
        if value is not None and value > 0:
            out[name] = value
    return out


def _qos_class(pod: Object) -> str:
    """upstream's ComputePodQOS: Guaranteed, Burstable or BestEffort from cpu and memory.

    Requests and limits are summed over containers and init containers; a request left out
    where a limit is set counts as the limit (upstream defaults it so before this runs).
    """
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        container_limits = dict(resources.get("limits") or {})
        container_requests = {**container_limits, **(resources.get("requests") or {})}
        for name, value in _positive(container_requests).items():
            requests[name] = requests.get(name, Decimal(0)) + value
        found = _positive(container_limits)
        for name, value in found.items():
            limits[name] = limits.get(name, Decimal(0)) + value
        if not set(QOS_RESOURCES) <= found.keys():
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


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
