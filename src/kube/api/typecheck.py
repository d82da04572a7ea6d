"""Values of the wrong JSON type for the schema: what decoding into the Go type refuses.

kube-apiserver decodes a body into the Go struct of its kind with encoding/json, so a value
whose JSON type does not fit its field is a 400 before anything else looks at the object:
`replicas: "3"` in a Deployment is `json: cannot unmarshal string into Go struct field
DeploymentSpec.spec.replicas of type int32`; a number in a ConfigMap's `data` is `... into Go struct
field ConfigMap.data of type string`. `first_error` finds the first such value (in document
order, as Go reports the first one) by walking the object with the kind's `FieldType`, and words
it as Go does: the innermost struct's name, the JSON field names from the root (map keys and
list indices are not part of it), and the Go type (`int32`, `[]uint8`, `map[string]string`,
`v1.Container`). A `[]byte` field (`format: byte`, Secret's `data`) must be standard base64,
as Go decodes it.

What Go decodes permissively stays permissive: null anywhere, int-or-string and quantities
(untyped scalars), named scalar types with their own decoders (`metav1.Time`), kinds without a
schema (DEDUCED), and fields the kind does not declare (`kube.api.unknownfields` handles those).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kube.api import gobase64
from kube.api.fieldmanager import DEDUCED, UNTYPED_ATOMIC, FieldType

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class _Mismatch(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def first_error(obj: Mapping[str, Any], t: FieldType) -> str | None:
    """Go's message for the first value of `obj` its type `t` refuses; None if all fit."""
    if t is DEDUCED or not t.is_struct:
        return None
    try:
        _struct(obj, t, _short_name(t.name), "")
    except _Mismatch as err:
        return err.message
    return None


def _short_name(definition: str) -> str:
    return definition.rsplit(".", 1)[-1]


def _schema(t: FieldType) -> Mapping[str, Any]:
    # The FieldType keeps the raw schema of maps and lists; the scalar formats (int32, byte)
    # that Go's type names need are only there.
    schema = t._schema
    return schema if schema is not None else {}


def _struct(value: Mapping[str, Any], t: FieldType, struct: str, path: str) -> None:
    properties = t._properties()
    for key, item in value.items():
        child = t.field(key)
        if child is None:
            continue  # undeclared: pruned, warned about or refused elsewhere
        where = f"{path}.{key}" if path else key
        fragment = properties.get(key)
        _check(item, child, fragment if isinstance(fragment, Mapping) else {}, struct, where)


def _check(value: Any, t: FieldType, fragment: Mapping[str, Any], struct: str, path: str) -> None:
    if value is None or t is DEDUCED or t is UNTYPED_ATOMIC:
        return
    if t.scalar is not None and not t.is_map and not t.is_list:
        if t.scalar == "untyped" or t.name:
            return  # int-or-string, quantities, and named scalars with their own decoders
        _scalar(value, t.scalar, fragment, struct, path)
        return
    if t.is_map:
        if not isinstance(value, dict):
            raise _mismatch(value, t, fragment, struct, path)
        if t.is_struct:
            _struct(value, t, _short_name(t.name) if t.name else struct, path)
            return
        element = t.map_element()
        if element is None:
            return
        extra = _schema(t).get("additionalProperties")
        element_fragment = extra if isinstance(extra, Mapping) else {}
        for item in value.values():
            _check(item, element, element_fragment, struct, path)
        return
    if t.is_list:
        if not isinstance(value, list):
            raise _mismatch(value, t, fragment, struct, path)
        items = _schema(t).get("items")
        item_fragment = items if isinstance(items, Mapping) else {}
        element = t.list_element()
        for item in value:
            _check(item, element, item_fragment, struct, path)


def _scalar(value: Any, scalar: str, fragment: Mapping[str, Any], struct: str, path: str) -> None:
    fmt = fragment.get("format")
    if scalar == "string":
        if not isinstance(value, str):
            raise _mismatch_scalar(value, "[]uint8" if fmt == "byte" else "string", struct, path)
        if fmt == "byte":
            offset = gobase64.error_offset(value.encode())
            if offset is not None:
                raise _Mismatch(str(gobase64.CorruptInputError(offset)))
    elif scalar == "boolean":
        if not isinstance(value, bool):
            raise _mismatch_scalar(value, "bool", struct, path)
    elif scalar == "numeric":
        go_type = _number_type(fragment)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch_scalar(value, go_type, struct, path)
        low_high = INT_RANGES.get(go_type)
        if low_high is not None and (
            not isinstance(value, int) or not low_high[0] <= value <= low_high[1]
        ):
            # Go names the literal when it does not parse as an integer of that size.
            raise _Mismatch(_message(f"number {value}", go_type, struct, path))


def _number_type(fragment: Mapping[str, Any]) -> str:
    fmt = fragment.get("format")
    if fmt in ("int32", "int64"):
        return str(fmt)
    kind = fragment.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return "int64" if "integer" in kinds else "float64"


def _json_name(value: Any) -> str:
    """How Go's UnmarshalTypeError names a JSON value that is not a number."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _message(what: str, go_type: str, struct: str, path: str) -> str:
    return f"json: cannot unmarshal {what} into Go struct field {struct}.{path} of type {go_type}"


def _mismatch_scalar(value: Any, go_type: str, struct: str, path: str) -> _Mismatch:
    return _Mismatch(_message(_json_name(value), go_type, struct, path))


def _mismatch(
    value: Any, t: FieldType, fragment: Mapping[str, Any], struct: str, path: str
) -> _Mismatch:
    return _Mismatch(_message(_json_name(value), go_type(t, fragment), struct, path))


def go_type(t: FieldType, fragment: Mapping[str, Any] | None = None, depth: int = 0) -> str:
    """How Go prints the type of a field (`string`, `*int32` as `int32`, `[]v1.Container`)."""
    fragment = fragment or {}
    if t.is_struct and t.name:
        package, _, name = t.name.rpartition(".")
        return f"{package.rsplit('.', 1)[-1]}.{name}"
    if t.scalar is not None and not t.is_map and not t.is_list:
        if t.scalar == "string":
            return "[]uint8" if fragment.get("format") == "byte" else "string"
        if t.scalar == "boolean":
            return "bool"
        if t.scalar == "numeric":
            return _number_type(fragment)
        return "interface {}"
    if depth > 8 or t is DEDUCED or t is UNTYPED_ATOMIC:
        return "interface {}"
    if t.is_map:
        element = t.map_element()
        extra = _schema(t).get("additionalProperties")
        inner = (
            go_type(element, extra if isinstance(extra, Mapping) else None, depth + 1)
            if element is not None
            else "interface {}"
        )
        return f"map[string]{inner}"
    if t.is_list:
        items = _schema(t).get("items")
        inner = go_type(t.list_element(), items if isinstance(items, Mapping) else None, depth + 1)
        return f"[]{inner}"
    return "interface {}"
