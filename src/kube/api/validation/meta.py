"""Object metadata, names, labels, annotations and label selectors, as upstream validates them.

Every kind's `metadata` gets upstream's `ValidateObjectMeta` on create and
`ValidateObjectMetaUpdate` on update (k8s.io/apimachinery/pkg/api/validation/objectmeta.go):

- the name (and `generateName`, trailing dash allowed) by the kind's rule: most kinds' names
  are DNS subdomains; Namespaces and StatefulSets take DNS labels, Services DNS-1035 labels,
  RBAC kinds and PersistentVolumes path segments (`NAME_RULES`);
- labels: qualified-name keys, label values (63 characters, `[A-Za-z0-9_.-]`);
- annotations: qualified-name keys (case-insensitive), 256 KiB in total;
- finalizers: qualified names, and not both `orphan` and `foregroundDeletion`; no new
  finalizer once the object is being deleted;
- owner references: apiVersion, kind, name, uid set; at most one controller.

A missing name is not reported here: the generic store reports it (upstream's
`name or generateName is required`) for every kind before the kind's validation runs.

Label selectors (`matchLabels` + `matchExpressions`) are validated as
`ValidateLabelSelector` does and matched through `kube.api.selectors` and the native label
kernel, so selector semantics live in one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kube.api.errors import Cause, go_quote
from kube.api.selectors import (
    Requirement,
    SelectorError,
    dns1123_subdomain_errors,
    from_label_selector,
    label_value_errors,
    qualified_name_errors,
    regex_error,
)
from kube.api.validation import field
from kube.api.validation.field import GoRepr, as_dict, as_list, as_str
from kube.native.labels import match_labels

# -- names (k8s.io/apimachinery/pkg/util/validation) ---------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(DNS1123_LABEL_FMT)
DNS1123_LABEL_MESSAGE = regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character",
    DNS1123_LABEL_FMT,
    "my-name",
    "123-abc",
)
DNS1123_SUBDOMAIN_FMT = f"{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*"
DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_FMT)
DNS1123_SUBDOMAIN_MESSAGE = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character",
    DNS1123_SUBDOMAIN_FMT,
    "example.com",
)
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL = re.compile(DNS1035_LABEL_FMT)
DNS1035_LABEL_MESSAGE = regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    DNS1035_LABEL_FMT,
    "my-name",
    "abc-123",
)


def max_len_error(limit: int) -> str:
    return f"must be no more than {limit} characters"


def dns1123_label_errors(value: str) -> list[str]:
    """`validation.IsDNS1123Label`."""
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not DNS1123_LABEL.fullmatch(value):
        errs.append(DNS1123_LABEL_MESSAGE)
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    """`validation.IsDNS1035Label`."""
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not DNS1035_LABEL.fullmatch(value):
        errs.append(DNS1035_LABEL_MESSAGE)
    return errs


def path_segment_errors(value: str, prefix: bool = False) -> list[str]:
    """`path.IsValidPathSegmentName` (a prefix may be `.` or `..`)."""
    if not prefix and value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


NameRule = Callable[[str], list[str]]

# How each kind's names are validated; every other kind's names are DNS subdomains.
NAME_RULES: dict[str, NameRule] = {
    "Namespace": dns1123_label_errors,
    "StatefulSet": dns1123_label_errors,
    "Service": dns1035_label_errors,
    "Role": path_segment_errors,
    "ClusterRole": path_segment_errors,
    "RoleBinding": path_segment_errors,
    "ClusterRoleBinding": path_segment_errors,
    "PersistentVolume": path_segment_errors,
}


def _mask_trailing_dash(name: str) -> str:
    """upstream's `maskTrailingDash` (which, as upstream, drops the character before it too)."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_errors(kind: str, name: str, prefix: bool = False) -> list[str]:
    """The messages of the kind's name rule; `prefix` checks a `generateName`."""
    rule = NAME_RULES.get(kind, dns1123_subdomain_errors)
    if rule is path_segment_errors:
        return path_segment_errors(name, prefix)
    return rule(_mask_trailing_dash(name) if prefix else name)


def validate_name(kind: str, name: str, path: str = "metadata.name") -> list[Cause]:
    """One `Invalid value` per broken rule of the kind's name; nothing for an empty name."""
    if not name:
        return []
    return [field.invalid(path, name, msg) for msg in name_errors(kind, name)]


# -- labels and annotations ----------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: object, path: str) -> list[Cause]:
    """`ValidateLabels`: each key a qualified name, each value a label value."""
    causes: list[Cause] = []
    for k, v in as_dict(labels).items():
        causes.extend(field.invalid(path, k, msg) for msg in qualified_name_errors(str(k)))
        value = v if isinstance(v, str) else str(v)
        causes.extend(field.invalid(path, value, msg) for msg in label_value_errors(value))
    return causes


def validate_annotations(annotations: object, path: str) -> list[Cause]:
    """`ValidateAnnotations`: qualified-name keys (any case) and 256 KiB in all."""
    values = as_dict(annotations)
    causes: list[Cause] = []
    total = 0
    for k, v in values.items():
        causes.extend(field.invalid(path, k, msg) for msg in qualified_name_errors(str(k).lower()))
        total += len(str(k).encode()) + len(str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(field.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


# -- finalizers and owner references -------------------------------------------------------

ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"


def validate_finalizers(finalizers: object, path: str) -> list[Cause]:
    names = [str(f) for f in as_list(finalizers)]
    causes: list[Cause] = []
    for name in names:
        causes.extend(field.invalid(path, name, msg) for msg in qualified_name_errors(name))
    if ORPHAN in names and FOREGROUND in names:
        causes.append(
            field.invalid(path, names, f"finalizer {ORPHAN} and {FOREGROUND} cannot be both set")
        )
    return causes


def validate_owner_references(refs: object, path: str) -> list[Cause]:
    """`ValidateOwnerReferences` (upstream reports at the list's path, not the entry's)."""
    causes: list[Cause] = []
    controller = ""
    for ref in as_list(refs):
        ref = as_dict(ref)
        api_version = as_str(ref.get("apiVersion"))
        version = api_version.rsplit("/", 1)[-1]
        if not version:
            causes.append(
                field.invalid(
                    field.child(path, "apiVersion"), api_version, "version must not be empty"
                )
            )
        for name in ("kind", "name", "uid"):
            if not as_str(ref.get(name)):
                causes.append(
                    field.invalid(field.child(path, name), "", f"{name} must not be empty")
                )
        if ref.get("controller") is True:
            current = f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}"
            if controller:
                causes.append(
                    field.invalid(
                        path,
                        GoRepr("[]v1.OwnerReference{...}"),
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {controller} and {current}",
                    )
                )
            else:
                controller = current
    return causes


# -- object meta ---------------------------------------------------------------------------


def validate_object_meta(kind: str, meta: object, path: str = "metadata") -> list[Cause]:
    """`ValidateObjectMeta` on create (the name must be set: the store reports it if not)."""
    meta = as_dict(meta)
    causes: list[Cause] = []
    generate_name = as_str(meta.get("generateName"))
    if generate_name:
        causes.extend(
            field.invalid(field.child(path, "generateName"), generate_name, msg)
            for msg in name_errors(kind, generate_name, prefix=True)
        )
    causes.extend(validate_name(kind, as_str(meta.get("name")), field.child(path, "name")))
    causes.extend(_meta_common(meta, path))
    causes.extend(validate_finalizers(meta.get("finalizers"), field.child(path, "finalizers")))
    return causes


def validate_object_meta_update(
    meta: object, old_meta: object, path: str = "metadata"
) -> list[Cause]:
    """`ValidateObjectMetaUpdate`: what the store does not already keep fixed."""
    meta, old_meta = as_dict(meta), as_dict(old_meta)
    causes: list[Cause] = []
    if old_meta.get("deletionTimestamp"):
        old = {str(f) for f in as_list(old_meta.get("finalizers"))}
        extra = sorted({str(f) for f in as_list(meta.get("finalizers"))} - old)
        if extra:
            causes.append(
                field.forbidden(
                    field.child(path, "finalizers"),
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {field.go_string_list(extra)}",
                )
            )
    generation = field.as_int(meta.get("generation"))
    old_generation = field.as_int(old_meta.get("generation"))
    if generation is not None and old_generation is not None and generation < old_generation:
        causes.append(
            field.invalid(field.child(path, "generation"), generation, "must not be decremented")
        )
    causes.extend(_meta_common(meta, path))
    return causes


def _meta_common(meta: dict[str, Any], path: str) -> list[Cause]:
    causes = field.nonnegative(field.child(path, "generation"), meta.get("generation"))
    causes.extend(validate_labels(meta.get("labels"), field.child(path, "labels")))
    causes.extend(validate_annotations(meta.get("annotations"), field.child(path, "annotations")))
    causes.extend(
        validate_owner_references(meta.get("ownerReferences"), field.child(path, "ownerReferences"))
    )
    return causes


# -- label selectors -----------------------------------------------------------------------

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: object, path: str) -> list[Cause]:
    """`ValidateLabelSelector` (label values in expressions checked strictly)."""
    if not isinstance(selector, dict):
        return []
    causes = validate_labels(selector.get("matchLabels"), field.child(path, "matchLabels"))
    for i, expr in enumerate(as_list(selector.get("matchExpressions"))):
        expr = as_dict(expr)
        expr_path = field.index(field.child(path, "matchExpressions"), i)
        op = expr.get("operator")
        values = [str(v) for v in as_list(expr.get("values"))]
        if op in ("In", "NotIn"):
            if not values:
                causes.append(
                    field.required(
                        field.child(expr_path, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                causes.append(
                    field.forbidden(
                        field.child(expr_path, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            causes.append(
                field.invalid(
                    field.child(expr_path, "operator"), op, "not a valid selector operator"
                )
            )
        key_ = as_str(expr.get("key"))
        causes.extend(
            field.invalid(field.child(expr_path, "key"), key_, msg)
            for msg in qualified_name_errors(key_)
        )
        for j, value in enumerate(values):
            causes.extend(
                field.invalid(field.index(field.child(expr_path, "values"), j), value, msg)
                for msg in label_value_errors(value)
            )
    return causes


def selector_requirements(selector: object) -> list[Requirement] | None:
    """The requirements of a `LabelSelector`; None when it does not convert (invalid)."""
    if selector is not None and not isinstance(selector, dict):
        return None
    try:
        return from_label_selector(selector)
    except (SelectorError, TypeError, AttributeError):
        return None


def selects(requirements: list[Requirement], labels: Mapping[str, Any]) -> bool:
    """Whether labels satisfy every requirement (no requirements: everything)."""
    plain = {str(k): str(v) for k, v in labels.items()}
    return bool(match_labels(requirements, [plain]))


def go_label_selector(selector: object) -> GoRepr:
    """A `*metav1.LabelSelector` as upstream prints it in a field error."""
    selector = as_dict(selector)
    match_labels_ = selector.get("matchLabels")
    labels = field.go_string_map(as_dict(match_labels_) if match_labels_ is not None else None)
    exprs = selector.get("matchExpressions")
    if exprs is None:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    else:
        items = []
        for expr in as_list(exprs):
            expr = as_dict(expr)
            values = expr.get("values")
            items.append(
                "v1.LabelSelectorRequirement{"
                f"Key:{go_quote(as_str(expr.get('key')))}, "
                f"Operator:{go_quote(as_str(expr.get('operator')))}, "
                f"Values:{field.go_string_list(as_list(values) if values is not None else None)}}}"
            )
        rendered = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    return GoRepr(f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{rendered}}}")
