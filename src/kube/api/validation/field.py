"""Field errors as upstream's k8s.io/apimachinery/pkg/util/validation/field writes them.

Every validation function returns a list of `Cause`s; the constructors here give each the
reason (`FieldValueRequired`, `FieldValueInvalid`, ...) and the message body upstream's
`field.Error.ErrorBody()` prints, so a 422 reads as kube-apiserver's does:

    spec.replicas: Invalid value: -1: must be greater than or equal to 0
    spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", ...

The bad value is printed as Go prints it: numbers and booleans plain, strings quoted
(`strconv.Quote`), maps as `map[string]string{"a":"b"}`. Values of a Go struct type are
rendered by the caller (see `GoRepr`), since only the caller knows the type's name.

Paths are plain strings built with `child`, `index` and `key` (`spec.containers[0].name`,
`data[my.key]`), as `field.Path.String()` joins them.

The small readers at the end (`as_dict`, `as_list`, `as_str`, `as_int`) let validators walk a
JSON object whose parts may have any type without raising: a part of the wrong type reads as
absent, so validation never crashes on bad input.
"""

from __future__ import annotations

import json
from typing import Any

from kube.api.errors import Cause, go_quote

# Upstream's shared detail messages (k8s.io/apimachinery/pkg/util/validation).
IS_NEGATIVE = "must be greater than or equal to 0"
FIELD_IMMUTABLE = "field is immutable"


class GoRepr(str):
    """A bad value already written the way Go's `%#v` (or `String()`) prints it."""


def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def go_value(value: object) -> str:
    """`value` as Go prints a bad value in a field error."""
    if isinstance(value, GoRepr):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        return go_string_map(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return go_string_list(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def go_string_map(value: dict[Any, Any] | None) -> str:
    """A `map[string]string` as `%#v` prints it: keys sorted, `nil` when absent."""
    if value is None:
        return "map[string]string(nil)"
    items = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in sorted(value.items()))
    return f"map[string]string{{{items}}}"


def go_string_list(value: list[Any] | None) -> str:
    if value is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(str(v)) for v in value) + "}"


def _with_detail(head: str, detail: str) -> str:
    return f"{head}: {detail}" if detail else head


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", _with_detail("Required value", detail), path)


def invalid(path: str, value: object, detail: str) -> Cause:
    return Cause(
        "FieldValueInvalid", _with_detail(f"Invalid value: {go_value(value)}", detail), path
    )


def not_supported(path: str, value: object, valid: list[str]) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return Cause(
        "FieldValueNotSupported",
        _with_detail(f"Unsupported value: {go_value(value)}", detail),
        path,
    )


def duplicate(path: str, value: object) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {go_value(value)}", path)


def not_found(path: str, value: object) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {go_value(value)}", path)


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", _with_detail("Forbidden", detail), path)


def too_long(path: str, limit: int) -> Cause:
    unit = "byte" if limit == 1 else "bytes"
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} {unit}", path)


def too_many(path: str, actual: int, limit: int) -> Cause:
    return Cause("FieldValueTooMany", f"Too many: {actual}: must have at most {limit} items", path)


def nonnegative(path: str, value: object) -> list[Cause]:
    """upstream's `ValidateNonnegativeField` for a present integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def immutable(path: str, new: object, old: object, shown: object = None) -> list[Cause]:
    """upstream's `ValidateImmutableField`: `field is immutable` when the value changed."""
    if new == old:
        return []
    return [invalid(path, new if shown is None else shown, FIELD_IMMUTABLE)]


def inclusive_range(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


# -- reading JSON parts of any type --------------------------------------------------------


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: object) -> int | None:
    """An integer field, or None when absent or not an integer (JSON `true` is not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def dicts(value: object) -> list[tuple[int, dict[str, Any]]]:
    """The entries of a list that are objects, with their indices."""
    return [(i, item) for i, item in enumerate(as_list(value)) if isinstance(item, dict)]
