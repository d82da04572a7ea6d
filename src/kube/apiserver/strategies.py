"""Per-kind behaviour of the generic store: defaulting, create/update rules and validation.

Upstream keeps this in each kind's `strategy.go` (PrepareForCreate, PrepareForUpdate,
Validate...) plus the defaulting every decoded object gets. Here `strategy_for` gives a kind
a `Strategy` whose hooks run, in the store, in upstream's order:

- `prepare_create`: `kube.api.defaults.prepare_create` (the kind's defaults, a Job's
  generated selector), then the kind's own create rules (a Namespace is Active with the
  `kubernetes` finalizer; a Pod is Pending with its QoS class);
- `prepare_update`: `kube.api.defaults.prepare_update` (defaults, a Service's allocated
  values carried over), the kind's update rules, and `metadata.generation` recomputed, since
  the store compared specs before the defaults were filled in (an update that only omits
  defaulted fields is no spec change);
- `validate`: `kube.api.validation.validate` (names by the kind's rule on create, labels,
  annotations, and the kind's own fields on create and update).

Kinds without defaults or rules get the shared metadata validation only.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kube.api import conversion, defaults, validation
from kube.api.errors import Cause
from kube.api.meta import Object, metadata
from kube.api.quantity import try_parse
from kube.api.resources import by_kind
from kube.apiserver.namespaces import namespace_may_go
from kube.apiserver.store import Strategy

# Kinds with a status subresource whose objects upstream gives no `metadata.generation`.
NO_GENERATION = {
    "Namespace",
    "Node",
    "Service",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ResourceQuota",
}

# Kinds without a status subresource that upstream still gives a `metadata.generation`, bumped
# when anything but metadata changes (its EndpointSlice controller compares generations to
# tell its informer's view from its own last write).
GENERATION_WITHOUT_STATUS = {("discovery.k8s.io", "EndpointSlice")}


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
    # spec.finalizers change only through namespaces/{name}/finalize (upstream's
    # namespaceStrategy.PrepareForUpdate); see kube.apiserver.namespaces.
    old_spec = old.get("spec")
    kept = old_spec.get("finalizers") if isinstance(old_spec, dict) else None
    spec = new.get("spec")
    if not isinstance(spec, dict):
        spec = new["spec"] = {}
    if kept is None:
        spec.pop("finalizers", None)
    else:
        spec["finalizers"] = list(kept)


def _pod_create(obj: Object) -> None:
    obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
    _default_toleration_seconds(obj)


# Upstream's DefaultTolerationSeconds admission plugin: pods tolerate a not-ready or
# unreachable node for 300 s before the taint eviction controller deletes them.
DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def _default_toleration_seconds(pod: Object) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is not None and not isinstance(tolerations, list):
        return  # validation reports it
    current = [t for t in tolerations or [] if isinstance(t, dict)]
    added = []
    for key in (NOT_READY_TAINT, UNREACHABLE_TAINT):
        if not any(
            t.get("key", "") in (key, "") and t.get("effect", "") in ("NoExecute", "")
            for t in current
        ):
            added.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )
    if added:
        spec["tolerations"] = [*(tolerations or []), *added]


QOS_RESOURCES = ("cpu", "memory")


def parse_quantity(text: object) -> Decimal | None:
    """A resource quantity (`500m`, `1Gi`, `1e3`) as a number; None if it does not parse."""
    parsed = try_parse(text)
    return None if parsed is None else parsed.value


def _positive(resources: dict[str, Any]) -> dict[str, Decimal]:
    """The cpu and memory quantities above zero (the only ones QoS looks at)."""
    out = {}
    for name in QOS_RESOURCES:
        value = parse_quantity(resources[name]) if name in resources else None
        if value is not None and value > 0:
            out[name] = value
    return out


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _qos_class(pod: Object) -> str:
    """upstream's ComputePodQOS: Guaranteed, Burstable or BestEffort from cpu and memory.

    Requests and limits are summed over containers and init containers; a request left out
    where a limit is set counts as the limit (upstream defaults it so before this runs).
    Parts of the wrong type count as absent (validation reports them).
    """
    spec = _mapping(pod.get("spec"))
    containers: list[dict[str, Any]] = []
    for name in ("containers", "initContainers"):
        entries = spec.get(name)
        if isinstance(entries, list):
            containers.extend(c for c in entries if isinstance(c, dict))
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in containers:
        resources = _mapping(container.get("resources"))
        container_limits = dict(_mapping(resources.get("limits")))
        container_requests = {**container_limits, **_mapping(resources.get("requests"))}
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


def _pod_grace_period(pod: Object, requested: int | None) -> int:
    """upstream's pod CheckGracefulDelete: the grace period a delete of `pod` gets.

    The one asked for, else `spec.terminationGracePeriodSeconds` (defaulted to 30 on
    create; 0 when absent); 0 (at once) for a pod never bound to a node or already
    Succeeded or Failed, since no kubelet will confirm it stopped; a negative one is 1.
    """
    spec, status = _mapping(pod.get("spec")), _mapping(pod.get("status"))
    period = requested
    if period is None:
        default = spec.get("terminationGracePeriodSeconds")
        period = default if isinstance(default, int) and not isinstance(default, bool) else 0
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        period = 0
    return 1 if period < 0 else period


# The kinds' own rules (core group), after defaulting.
CREATE_RULES: dict[str, Callable[[Object], None]] = {
    "Namespace": _namespace_create,
    "Pod": _pod_create,
}
UPDATE_RULES: dict[str, Callable[[Object, Object], None]] = {
    "Namespace": _namespace_update,
}
# Kinds with graceful deletion (core group): upstream's RESTGracefulDeleteStrategy.
GRACE_PERIODS: dict[str, Callable[[Object, int | None], int]] = {
    "Pod": _pod_grace_period,
}


def _spec_of(obj: Object) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def strategy_for(
    kind: str, has_status: bool, *, group: str | None = None, version: str | None = None
) -> Strategy:
    """The hooks of one served kind.

    `group` and `version` name the row being served; when left out they are the kind's
    preferred row in the registry (core first), which is right for every kind but the
    events.k8s.io Event.
    """
    if group is None or version is None:
        row = by_kind(kind, group)
        group = row.group if row is not None else (group or "")
        version = version or (row.version if row is not None else "v1")
    gvk = (group, version, kind)
    tracks_generation = (has_status and kind not in NO_GENERATION) or (
        group,
        kind,
    ) in GENERATION_WITHOUT_STATUS
    create_rule = CREATE_RULES.get(kind) if group == "" else None
    update_rule = UPDATE_RULES.get(kind) if group == "" else None
    has_defaults = gvk in defaults.DEFAULTERS
    convert = conversion.CONVERTERS.get(gvk)

    def prepare_create(obj: Object) -> None:
        defaults.prepare_create(*gvk, obj)
        if create_rule is not None:
            create_rule(obj)

    def prepare_update(new: Object, old: Object) -> None:
        defaults.prepare_update(*gvk, new, old)
        if update_rule is not None:
            update_rule(new, old)
        if tracks_generation:
            meta, old_meta = metadata(new), metadata(old)
            generation = old_meta.get("generation", 1)
            if isinstance(generation, int) and _spec_of(new) != _spec_of(old):
                generation += 1
            meta["generation"] = generation

    def validate(obj: Object, old: Object | None) -> list[Cause]:
        return validation.validate(*gvk, obj, old)

    return Strategy(
        has_status=has_status,
        tracks_generation=tracks_generation,
        keeps_status=(group, kind) == ("", "Node"),
        prepare_create=prepare_create if has_defaults or create_rule is not None else None,
        prepare_update=prepare_update if has_defaults or update_rule is not None else None,
        validate=validate,
        to_storage=convert[0] if convert else None,
        from_storage=convert[1] if convert else None,
        grace_period=GRACE_PERIODS.get(kind) if group == "" else None,
        may_go=namespace_may_go if (group, kind) == ("", "Namespace") else None,
    )
