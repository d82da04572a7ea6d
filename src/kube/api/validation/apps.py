"""The apps group's kinds, validated as pkg/apis/apps/validation does.

- Deployment and ReplicaSet: replicas >= 0, a selector that is set, valid, not empty and
  matches the template's labels, the pod template (restart policy Always, no active
  deadline), the strategy (`Recreate` or `RollingUpdate` with int-or-percent `maxSurge` /
  `maxUnavailable`, not both 0, unavailable at most 100%), min-ready, revision history and
  progress deadline (> minReadySeconds) limits; the selector is immutable on update.
- DaemonSet: the same selector and template rules, the update strategy (`RollingUpdate`
  with exactly one of `maxSurge` / `maxUnavailable` non-zero, or `OnDelete`); selector
  immutable.
- StatefulSet: pod management and update strategy values, partition, claim retention
  policy, replicas, the selector and the template's labels (upstream validates no more of
  a StatefulSet's pod template); on update only replicas, ordinals, template, update
  strategy, claim retention policy and minReadySeconds may change.
- ControllerRevision: data set, revision >= 0, data immutable.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kube.api.errors import Cause
from kube.api.selectors import regex_error
from kube.api.validation import field
from kube.api.validation.field import GoRepr, as_dict, as_int
from kube.api.validation.meta import (
    go_label_selector,
    selector_requirements,
    selects,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from kube.api.validation.pods import template_restart_always, validate_pod_template_spec

Object = dict[str, Any]
SELECTOR_MISMATCH = "`selector` does not match template `labels`"
PERCENT = re.compile("[0-9]+%")
PERCENT_MESSAGE = regex_error(
    "a valid percent string must be a numeric string followed by an ending '%'",
    "[0-9]+%",
    "1%",
    "93%",
)

# -- shared pieces -------------------------------------------------------------------------


def _template_labels(template: object) -> dict[str, Any]:
    return as_dict(as_dict(as_dict(template).get("metadata")).get("labels"))


def _go_labels(template: object) -> GoRepr:
    labels = as_dict(as_dict(template).get("metadata")).get("labels")
    return GoRepr(field.go_string_map(as_dict(labels) if labels is not None else None))


def _selector(spec: dict[str, Any], owner: str) -> tuple[list[Cause], list[Any] | None]:
    """A required, valid, non-empty selector; returns the causes and its requirements."""
    selector = spec.get("selector")
    causes: list[Cause] = []
    if selector is None:
        causes.append(field.required("spec.selector"))
    else:
        causes.extend(validate_label_selector(selector, "spec.selector"))
        sel = as_dict(selector)
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            causes.append(
                field.invalid(
                    "spec.selector",
                    go_label_selector(selector),
                    f"empty selector is invalid for {owner}",
                )
            )
    requirements = selector_requirements(selector)
    return causes, requirements


def _matching_template(template: object, requirements: list[Any] | None, path: str) -> list[Cause]:
    """Upstream's template-vs-selector check (an empty selector checks nothing)."""
    if requirements and not selects(requirements, _template_labels(template)):
        return [
            field.invalid(
                field.child(path, "metadata", "labels"), _go_labels(template), SELECTOR_MISMATCH
            )
        ]
    return []


def _int_or_string_repr(value: object) -> GoRepr:
    """An IntOrString as upstream prints it (its `String()`)."""
    return GoRepr(str(value) if not isinstance(value, bool) else "0")


def _percent(value: object) -> int | None:
    if isinstance(value, str) and PERCENT.fullmatch(value):
        return int(value[:-1])
    return None


def _int_or_percent_value(value: object) -> int:
    """`getIntOrPercentValue`."""
    percent = _percent(value)
    if percent is not None:
        return percent
    number = as_int(value)
    if number is not None:
        return number
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return 0


def positive_int_or_percent(value: object, path: str) -> list[Cause]:
    """`ValidatePositiveIntOrPercent`."""
    if value is None:
        return []
    if isinstance(value, str):
        if not PERCENT.fullmatch(value):
            return [field.invalid(path, _int_or_string_repr(value), PERCENT_MESSAGE)]
        return []
    number = as_int(value)
    if number is not None:
        return field.nonnegative(path, number)
    return [
        field.invalid(
            path, _int_or_string_repr(value), "must be an integer or percentage (e.g '5%')"
        )
    ]


def not_more_than_100_percent(value: object, path: str) -> list[Cause]:
    percent = _percent(value)
    if percent is None or percent <= 100:
        return []
    return [field.invalid(path, _int_or_string_repr(value), "must not be greater than 100%")]


def _selector_immutable(obj: Object, old: Object) -> list[Cause]:
    new_sel = as_dict(obj.get("spec")).get("selector")
    old_sel = as_dict(old.get("spec")).get("selector")
    if new_sel == old_sel:
        return []
    return [field.invalid("spec.selector", go_label_selector(new_sel), field.FIELD_IMMUTABLE)]


def _replica_set_template(template: object, requirements: list[Any] | None) -> list[Cause]:
    """`ValidatePodTemplateSpecForReplicaSet` (Deployments use it too, message included)."""
    template = as_dict(template)  # a value in Go: absent reads as empty
    causes = _matching_template(template, requirements, "spec.template")
    causes.extend(validate_pod_template_spec(template, "spec.template"))
    causes.extend(template_restart_always(template, "spec.template", "ReplicaSet"))
    return causes


def _selector_and_template(spec: dict[str, Any], owner: str) -> list[Cause]:
    causes, requirements = _selector(spec, owner)
    if requirements is None:
        causes.append(
            field.invalid(
                "spec.selector", go_label_selector(spec.get("selector")), "invalid label selector"
            )
        )
    else:
        causes.extend(_replica_set_template(spec.get("template"), requirements))
    return causes


# -- Deployment and ReplicaSet -------------------------------------------------------------


def _go_strategy(strategy: dict[str, Any], type_name: str, rolling_name: str) -> GoRepr:
    rolling = "nil" if strategy.get("rollingUpdate") is None else "0xc000000000"
    return GoRepr(
        f"apps.{type_name}{{Type:{field.go_value(str(strategy.get('type') or ''))}, "
        f"RollingUpdate:(*apps.{rolling_name})({rolling})}}"
    )


def _deployment_strategy(strategy: object) -> list[Cause]:
    strategy = as_dict(strategy)
    kind = strategy.get("type")
    path = "spec.strategy"
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [
                field.forbidden(
                    field.child(path, "rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            ]
        return []
    if kind == "RollingUpdate":
        if rolling is None:
            return [
                field.required(
                    field.child(path, "rollingUpdate"), "this should be defaulted and never be nil"
                )
            ]
        rolling = as_dict(rolling)
        rpath = field.child(path, "rollingUpdate")
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        causes = positive_int_or_percent(unavailable, field.child(rpath, "maxUnavailable"))
        causes.extend(positive_int_or_percent(surge, field.child(rpath, "maxSurge")))
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            causes.append(
                field.invalid(
                    field.child(rpath, "maxUnavailable"),
                    _int_or_string_repr(unavailable if unavailable is not None else 0),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
        causes.extend(not_more_than_100_percent(unavailable, field.child(rpath, "maxUnavailable")))
        return causes
    return [
        field.not_supported(
            path,
            _go_strategy(strategy, "DeploymentStrategy", "RollingUpdateDeployment"),
            ["Recreate", "RollingUpdate"],
        )
    ]


def validate_deployment(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = field.nonnegative("spec.replicas", spec.get("replicas"))
    causes.extend(_selector_and_template(spec, "deployment"))
    causes.extend(_deployment_strategy(spec.get("strategy")))
    causes.extend(field.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    causes.extend(field.nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    deadline = as_int(spec.get("progressDeadlineSeconds"))
    if deadline is not None:
        causes.extend(field.nonnegative("spec.progressDeadlineSeconds", deadline))
        if deadline <= (as_int(spec.get("minReadySeconds")) or 0):
            causes.append(
                field.invalid(
                    "spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
                )
            )
    if old is not None:
        causes.extend(_selector_immutable(obj, old))
    return causes


def validate_replica_set(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = field.nonnegative("spec.replicas", spec.get("replicas"))
    causes.extend(field.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    # upstream's ReplicaSet check names deployments in its message too
    causes.extend(_selector_and_template(spec, "deployment"))
    if old is not None:
        causes.extend(_selector_immutable(obj, old))
    return causes


# -- DaemonSet -----------------------------------------------------------------------------


def _daemon_set_strategy(strategy: object) -> list[Cause]:
    strategy = as_dict(strategy)
    path = "spec.updateStrategy"
    kind = strategy.get("type")
    if kind == "OnDelete":
        return []
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        rpath = field.child(path, "rollingUpdate")
        if rolling is None:
            return [field.required(rpath)]
        rolling = as_dict(rolling)
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        causes = positive_int_or_percent(unavailable, field.child(rpath, "maxUnavailable"))
        causes.extend(positive_int_or_percent(surge, field.child(rpath, "maxSurge")))
        causes.extend(not_more_than_100_percent(unavailable, field.child(rpath, "maxUnavailable")))
        causes.extend(not_more_than_100_percent(surge, field.child(rpath, "maxSurge")))
        has_unavailable = _int_or_percent_value(unavailable) != 0
        has_surge = _int_or_percent_value(surge) != 0
        if has_unavailable and has_surge:
            causes.append(
                field.invalid(
                    field.child(rpath, "maxSurge"),
                    _int_or_string_repr(surge),
                    "may not be set when maxUnavailable is non-zero",
                )
            )
        elif not has_unavailable and not has_surge:
            causes.append(
                field.required(
                    field.child(rpath, "maxUnavailable"), "cannot be 0 when maxSurge is 0"
                )
            )
        return causes
    return [
        field.not_supported(
            path,
            _go_strategy(strategy, "DaemonSetUpdateStrategy", "RollingUpdateDaemonSet"),
            ["RollingUpdate", "OnDelete"],
        )
    ]


def validate_daemon_set(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    selector = spec.get("selector")
    causes = validate_label_selector(selector, "spec.selector")
    template = spec.get("template")
    requirements = selector_requirements(selector)
    # A missing selector selects nothing: the template never matches it.
    if requirements is not None and (
        selector is None or not selects(requirements, _template_labels(template))
    ):
        causes.append(
            field.invalid("spec.template.metadata.labels", _go_labels(template), SELECTOR_MISMATCH)
        )
    sel = as_dict(selector)
    if selector is not None and not sel.get("matchLabels") and not sel.get("matchExpressions"):
        causes.append(
            field.invalid(
                "spec.selector",
                go_label_selector(selector),
                "empty selector is invalid for daemonset",
            )
        )
    causes.extend(validate_pod_template_spec(template, "spec.template"))
    causes.extend(template_restart_always(template, "spec.template", "DaemonSet"))
    causes.extend(field.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    causes.extend(field.nonnegative("spec.templateGeneration", spec.get("templateGeneration")))
    causes.extend(_daemon_set_strategy(spec.get("updateStrategy")))
    causes.extend(field.nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    if old is not None:
        causes.extend(_selector_immutable(obj, old))
    return causes


# -- StatefulSet ---------------------------------------------------------------------------

RETENTION_POLICIES = ["Retain", "Delete"]
STATEFUL_SET_UPDATE_MESSAGE = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
STATEFUL_SET_MUTABLE = (
    "replicas",
    "template",
    "updateStrategy",
    "minReadySeconds",
    "ordinals",
    "persistentVolumeClaimRetentionPolicy",
)


def _stateful_set_strategy(strategy: object) -> list[Cause]:
    strategy = as_dict(strategy)
    path = "spec.updateStrategy"
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if not kind:
        return [field.required(path)]
    if kind == "OnDelete":
        if rolling is not None:
            return [
                field.invalid(
                    field.child(path, "rollingUpdate"),
                    GoRepr("&apps.RollingUpdateStatefulSetStrategy{...}"),
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            ]
        return []
    if kind == "RollingUpdate":
        if rolling is None:
            return []
        rolling = as_dict(rolling)
        rpath = field.child(path, "rollingUpdate")
        causes = field.nonnegative(field.child(rpath, "partition"), rolling.get("partition"))
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None:
            upath = field.child(rpath, "maxUnavailable")
            causes.extend(positive_int_or_percent(unavailable, upath))
            if _int_or_percent_value(unavailable) == 0:
                causes.append(field.invalid(upath, _int_or_string_repr(unavailable), "cannot be 0"))
            causes.extend(not_more_than_100_percent(unavailable, upath))
        return causes
    return [
        field.invalid(
            path,
            _go_strategy(strategy, "StatefulSetUpdateStrategy", "RollingUpdateStatefulSetStrategy"),
            "must be 'RollingUpdate' or 'OnDelete'",
        )
    ]


def validate_stateful_set(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    policy = spec.get("podManagementPolicy")
    if not policy:
        causes.append(field.required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        causes.append(
            field.invalid(
                "spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"
            )
        )
    causes.extend(_stateful_set_strategy(spec.get("updateStrategy")))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        for name in ("whenDeleted", "whenScaled"):
            value = as_dict(retention).get(name)
            if value not in RETENTION_POLICIES:
                causes.append(
                    field.not_supported(
                        f"spec.persistentVolumeClaimRetentionPolicy.{name}",
                        value if value is not None else "",
                        RETENTION_POLICIES,
                    )
                )
    causes.extend(field.nonnegative("spec.replicas", spec.get("replicas")))
    causes.extend(field.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    causes.extend(
        field.nonnegative("spec.ordinals.start", as_dict(spec.get("ordinals")).get("start"))
    )
    selector_causes, requirements = _selector(spec, "statefulset")
    causes.extend(selector_causes)
    template = spec.get("template")
    if requirements is None:
        causes.append(field.invalid("spec.selector", go_label_selector(spec.get("selector")), ""))
    else:
        causes.extend(_matching_template(template, requirements, "spec.template"))
        meta = as_dict(as_dict(template).get("metadata"))
        causes.extend(validate_labels(meta.get("labels"), "spec.template.labels"))
        causes.extend(validate_annotations(meta.get("annotations"), "spec.template.annotations"))
    causes.extend(template_restart_always(template, "spec.template", "StatefulSet"))
    if old is not None:
        view, old_spec = copy.deepcopy(spec), as_dict(old.get("spec"))
        for name in STATEFUL_SET_MUTABLE:
            if name in old_spec:
                view[name] = old_spec[name]
            else:
                view.pop(name, None)
        if view != old_spec:
            causes.append(field.forbidden("spec", STATEFUL_SET_UPDATE_MESSAGE))
    return causes


# -- ControllerRevision --------------------------------------------------------------------


def validate_controller_revision(obj: Object, old: Object | None) -> list[Cause]:
    causes: list[Cause] = []
    if obj.get("data") is None:
        causes.append(field.required("data", "data is mandatory"))
    causes.extend(field.nonnegative("revision", obj.get("revision")))
    if old is not None and obj.get("data") != old.get("data"):
        causes.append(
            field.invalid("data", GoRepr("runtime.RawExtension{...}"), field.FIELD_IMMUTABLE)
        )
    return causes
